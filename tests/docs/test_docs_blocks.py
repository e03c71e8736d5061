"""Every ```bash and ```python block of the README and the guides runs.

The blocks of one page run in order, in one temporary folder that holds small example data
under the names the guides use (``my_clips/``, ``clip.wav``, ``recordings/`` ...), so a block
can use what an earlier block of the same page wrote. A block that cannot run here (it needs an
official checkpoint, a download or hours of CPU) carries ``<!-- skip: REASON -->`` on the line
above it; each such block is reported as a skipped test with that reason. Blocks of other
languages (``text``, ``csv``, ``json``) are listings and are not run; a fence without a language
is an error, so that no command hides in an unmarked block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from audiocnn.testing import tone, write_wav

ROOT = Path(__file__).resolve().parents[2]
RUN_LANGS = {"bash", "python"}
SKIP_RE = re.compile(r"^<!--\s*skip:\s*(.+?)\s*-->$")
FENCE_RE = re.compile(r"^(`{3,})\s*([\w+-]*)\s*$")
# Pages whose blocks have no run/skip markers (none: every page is covered).
UNMARKED_PAGES: set[str] = set()
BLOCK_TIMEOUT = 600


@dataclass
class Block:
    page: str
    line: int
    lang: str
    code: str
    skip: str | None


def parse_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with the skip reason written above each, if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path.name}:{start + 1}: code fence never closed")
        k = start - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        sm = SKIP_RE.match(lines[k].strip()) if k >= 0 else None
        blocks.append(Block(path.name, start + 1, lang, "\n".join(lines[start + 1:j]), sm.group(1) if sm else None))
        i = j + 1
    return blocks


def pages() -> list[Path]:
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def covered_pages() -> list[Path]:
    return [p for p in pages() if p.name not in UNMARKED_PAGES]


def _noisy_tone(freq: float, seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (tone(freq, seconds, sr, amplitude=0.3) + 0.02 * rng.standard_normal(int(seconds * sr))).astype(np.float32)


def make_example_data(root: Path) -> None:
    """The small data the guides' commands name: ``my_clips/`` (3 classes x 8 clips of 1 s,
    16 kHz, one sub-folder per class), ``held_out/`` (3 more clips per class, same layout),
    ``my_data/`` (the clips of ``my_clips/`` with ``labels.csv``), ``clip.wav`` (2 s),
    ``street.wav`` (6 s), ``recordings/`` (4 files)."""
    sr = 16000
    rows = ["filename,label,fold"]
    for c, (label, f0) in enumerate([("low", 300.0), ("mid", 900.0), ("high", 2500.0)]):
        for i in range(8):
            wave = _noisy_tone(f0 * (1 + 0.03 * i), 1.0, sr, seed=10 * c + i)
            write_wav(root / "my_clips" / label / f"{label}_{i}.wav", wave, sr)
            write_wav(root / "my_data" / "clips" / f"{label}_{i}.wav", wave, sr)
            rows.append(f"clips/{label}_{i}.wav,{label},{i % 4 + 1}")
        for i in range(3):
            write_wav(root / "held_out" / label / f"{label}_{i}.wav", _noisy_tone(f0 * (1.01 + 0.03 * i), 1.0, sr, seed=500 + 10 * c + i), sr)
    (root / "my_data" / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    write_wav(root / "clip.wav", _noisy_tone(440.0, 2.0, sr, seed=99), sr)
    write_wav(root / "street.wav", np.concatenate([_noisy_tone(f, 2.0, sr, seed=s) for s, f in enumerate((300, 2500, 900))]), sr)
    for i, f in enumerate((300.0, 900.0, 2500.0, 600.0)):
        write_wav(root / "recordings" / f"rec_{i}.wav", _noisy_tone(f, 1.5, sr, seed=200 + i), sr)


def run_block(block: Block, cwd: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    if block.lang == "bash":
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        cmd = [sys.executable, "-c", block.code]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
    if r.returncode != 0:
        raise AssertionError(
            f"{block.page}:{block.line}: the {block.lang} block failed (exit {r.returncode})\n"
            f"--- block ---\n{block.code}\n--- stdout ---\n{r.stdout[-3000:]}\n--- stderr ---\n{r.stderr[-5000:]}"
        )


def _skipped_blocks():
    out = []
    for p in covered_pages():
        for b in parse_blocks(p):
            if b.lang in RUN_LANGS and b.skip:
                out.append(pytest.param(b, id=f"{b.page}:{b.line}"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("page", [pytest.param(p, id=p.name) for p in covered_pages()])
def test_page_blocks_run(page: Path, tmp_path: Path):
    blocks = [b for b in parse_blocks(page) if b.lang in RUN_LANGS and not b.skip]
    if not blocks:
        pytest.skip(f"{page.name}: no runnable block (every block is a listing or marked skip)")
    make_example_data(tmp_path)
    for b in blocks:
        run_block(b, tmp_path)


@pytest.mark.parametrize("block", _skipped_blocks())
def test_marked_block_is_skipped_with_reason(block: Block):
    assert len(block.skip) >= 10, f"{block.page}:{block.line}: skip reason too short to tell why: {block.skip!r}"
    pytest.skip(f"{block.page}:{block.line}: {block.skip}")


@pytest.mark.parametrize("page", [pytest.param(p, id=p.name) for p in covered_pages()])
def test_every_fence_names_its_language(page: Path):
    missing = [b.line for b in parse_blocks(page) if not b.lang]
    assert not missing, f"{page.name}: code fences without a language at lines {missing} (use bash/python to run, text for listings)"


def test_parser_reads_skip_markers_and_languages(tmp_path: Path):
    md = tmp_path / "x.md"
    md.write_text(
        "intro\n\n<!-- skip: needs the official Cnn14 checkpoint -->\n```bash\naudiocnn tag a.wav\n```\n\n"
        "```text\nlisting\n```\n\n```python\nprint(1)\n```\n",
        encoding="utf-8",
    )
    got = [(b.lang, b.skip, b.code) for b in parse_blocks(md)]
    assert got == [
        ("bash", "needs the official Cnn14 checkpoint", "audiocnn tag a.wav"),
        ("text", None, "listing"),
        ("python", None, "print(1)"),
    ]


def test_a_failing_block_is_reported_with_its_page_and_line(tmp_path: Path):
    with pytest.raises(AssertionError, match=r"guide\.md:7: the bash block failed"):
        run_block(Block("guide.md", 7, "bash", "false", None), tmp_path)
