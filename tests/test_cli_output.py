"""Output of the ``audiocnn`` command for people and for logs: ``--version``, ``-q``/``-v`` on every
command, and no progress-bar fragments (carriage returns) when stderr is not a terminal."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiocnn import __version__
from audiocnn.cli import build_parser, main
from audiocnn.testing import tone, write_wav


def _subcommands():
    parser = build_parser()
    return parser, parser._subparsers._group_actions[0].choices


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"audiocnn {__version__}"


@pytest.mark.parametrize("flag", ["-q", "--quiet", "-v", "--verbose"])
def test_every_command_takes_quiet_and_verbose_after_its_name(flag):
    parser, commands = _subcommands()
    assert len(commands) >= 10
    for name, sub in commands.items():
        options = {s for a in sub._actions for s in a.option_strings}
        assert flag in options, f"audiocnn {name} does not take {flag}"


def test_quiet_and_verbose_work_before_and_after_the_command():
    parser = build_parser()
    for argv in (["-q", "models"], ["models", "-q"], ["models", "--quiet"]):
        a = parser.parse_args(argv)
        assert a.quiet is True and a.verbose is False, argv
    a = parser.parse_args(["models", "-v"])
    assert a.verbose is True and a.quiet is False
    a = parser.parse_args(["models"])
    assert a.verbose is False and a.quiet is False


def test_quiet_sets_warning_level_and_turns_progress_off(monkeypatch):
    from audiocnn import cli

    root = logging.getLogger()
    old_level, old_handlers = root.level, root.handlers[:]
    root.handlers = []  # let basicConfig act
    try:
        args = build_parser().parse_args(["demo", "-q"])
        assert args.no_progress is False
        cli._configure_output(args)
        assert root.level == logging.WARNING
        assert logging.getLogger("lightning.pytorch").level == logging.WARNING
        assert args.no_progress is True
    finally:
        root.handlers = old_handlers
        root.setLevel(old_level)


def test_progress_is_off_when_stderr_is_not_a_terminal(monkeypatch):
    from audiocnn import cli

    class NotATerminal:
        def isatty(self):
            return False

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", NotATerminal())
    args = build_parser().parse_args(["demo"])
    cli._configure_output(args)
    assert args.no_progress is True


def _run(argv, cwd: Path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "audiocnn.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_piped_training_log_has_no_bar_fragments_and_quiet_has_no_info(tmp_path: Path):
    rng = np.random.default_rng(0)
    for label, f0 in (("low", 300.0), ("high", 2500.0)):
        for i in range(6):
            w = tone(f0 * (1 + 0.02 * i), 0.5, 16000, amplitude=0.3) + 0.02 * rng.standard_normal(8000)
            write_wav(tmp_path / "clips" / label / f"{i}.wav", w.astype(np.float32), 16000)
    r = _run(["train", "--data", "clips", "--out", "runs/a", "--max-folds", "1", "--epochs", "2", "--no-baselines"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "\r" not in r.stderr, "progress-bar fragments in a piped log"
    assert "INFO" in r.stderr  # plain log lines instead
    r = _run(["train", "--data", "clips", "--out", "runs/b", "--max-folds", "1", "--epochs", "2", "--no-baselines", "-q"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "\r" not in r.stderr
    assert "INFO" not in r.stderr, r.stderr[-2000:]
    assert "runs/b" in r.stdout  # the closing line says where the outputs are


def test_library_progress_bar_is_silent_without_a_terminal(tmp_path: Path, capsys):
    from audiocnn.inference.tagger import Tagger

    write_wav(tmp_path / "a.wav", tone(440.0, 1.0, 32000, amplitude=0.3), 32000)
    with pytest.warns(UserWarning):
        tagger = Tagger("test_cnn")
    tagger.tag([tmp_path / "a.wav"], top_k=1, progress=True)
    assert "\r" not in capsys.readouterr().err
