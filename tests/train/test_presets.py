"""Study presets: the tables of docs/presets.md equal the presets' resolved configurations, and
`audiocnn train --preset rethinking` runs end to end on a small ESC-50-shaped folder."""

from __future__ import annotations

import ast
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from audiocnn.cli import build_parser, main
from audiocnn.testing import write_wav
from audiocnn.train.presets import PRESETS, RANDOM_CNN_PRESETS, preset_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "presets.md"


def _tables() -> dict[str, dict[str, object]]:
    """{preset: {setting: value}} from the docs: a `## `name`` heading, then rows `| `key` | `value` | ...`."""
    tables, name = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^## `(\w+)`", line)
        if m:
            name = m.group(1)
            tables[name] = {}
            continue
        m = re.match(r"^\| `([\w.]+)` \| `([^`]+)` \|", line)
        if m and name:
            tables[name][m.group(1)] = ast.literal_eval(m.group(2))
    return tables


def _resolved(cfg, key: str):
    if key.startswith("model_kwargs."):
        return cfg.model_kwargs[key.split(".", 1)[1]]
    return getattr(cfg, key)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_docs_table_equals_the_resolved_preset(name):
    table = _tables()[name]
    cfg = preset_config(name)
    for key, value in table.items():
        got = _resolved(cfg, key)
        assert got == value and type(got) is type(value), f"{name}: {key} is {got!r} in the preset, {value!r} in docs/presets.md"
    listed = {k for k in PRESETS[name] if k != "model_kwargs"} | {f"model_kwargs.{k}" for k in PRESETS[name].get("model_kwargs", {})}
    assert listed == set(table), f"{name}: settings of the preset missing from the docs: {listed - set(table)}, extra: {set(table) - listed}"


def test_docs_table_of_the_random_cnn_preset():
    assert _tables()["pons"] == RANDOM_CNN_PRESETS["pons"]


def test_the_presets_values_reach_the_random_cnn_command():
    from audiocnn.cli.random_cnn import apply_preset

    args = build_parser().parse_args(["random-cnn", "--data", "x", "--out", "o", "--preset", "pons", "--n-mels", "64"])
    apply_preset(args)
    assert (args.sample_rate, args.n_mels, args.frontends, args.backends) == (12000, 64, "all", "svm,elm")


def test_pons_is_not_a_training_recipe(capsys):
    assert main(["train", "--data", "x", "--preset", "pons"]) == 2
    err = capsys.readouterr().err
    assert "trains no network" in err and "audiocnn random-cnn --preset pons" in err


def _esc50(root: Path, sample_rate: int = 44100) -> Path:
    """An ESC-50 layout: meta/esc50.csv and audio/<fold>-<src>-A-<target>.wav, 2 classes x 5 folds x 2 clips."""
    rng = np.random.default_rng(0)
    rows = [["filename", "fold", "target", "category", "esc10", "src_file", "take"]]
    for fold in range(1, 6):
        for target, (cat, freq) in enumerate((("dog", 500.0), ("rooster", 2500.0))):
            for take in "AB":
                name = f"{fold}-{100 * fold + target}-{take}-{target}.wav"
                t = np.arange(int(0.5 * sample_rate)) / sample_rate
                x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
                write_wav(root / "audio" / name, x.astype(np.float32), sample_rate)
                rows.append([name, str(fold), str(target), cat, "True", str(100 * fold + target), take])
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root


def test_train_with_the_rethinking_preset_end_to_end(tmp_path, capsys):
    data = _esc50(tmp_path / "ESC-50")
    out = tmp_path / "run"
    # the preset's recipe, made tiny by explicit flags: a test-size ImageNet model, random
    # initialisation (no weight file here), one epoch, one fold, half-second clips
    code = main(["train", "--data", str(data), "--dataset", "esc50", "--preset", "rethinking", "--model", "test_imagenet_resnet",
                 "--init", "random", "--epochs", "1", "--batch-size", "4", "--max-folds", "1", "--clip-seconds", "0.5",
                 "--no-baselines", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    cfg = json.loads((out / "run.json").read_text())["config"]
    # explicit flags won; everything else is the study's
    assert cfg["model"] == "test_imagenet_resnet" and cfg["epochs"] == 1 and cfg["model_kwargs"]["init"] == "random"
    for key in ("optimizer", "lr", "weight_decay", "schedule", "step_epochs", "gamma", "warmup_epochs", "patience"):
        assert cfg[key] == PRESETS["rethinking"][key], key
    assert cfg["model_kwargs"]["sample_rate"] == 44100
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["sample_rate"] == 44100 and metrics["summary"]["n_folds_total"] == 5
    assert "accuracy" in metrics["folds"][0]
