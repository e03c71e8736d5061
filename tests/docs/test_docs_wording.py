"""The repository describes the product, not the history of its making.

A text search of every tracked (and new, not ignored) text file for phrases that date the work:
numbered work periods, "earlier this ...", reviews, "what was tried". Figures belong in
docs/results.md with their command and date; the reasoning behind a default belongs in the
guide it supports, in the present tense.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DATING = re.compile(
    r"""
      \b(?:first|second|third|fourth|fifth|sixth|this|that|last|previous|next|earlier|later|one)\s+session\b
    | \bsessions?\s+(?:ago|before|earlier)\b
    | \bearlier\s+this\b
    | \bin\s+review\b
    | \b(?:the|a|this|that)\s+review(?:'s)?\b
    | \breview\s+(?:fix|of\s+this)\b
    | \bthe\s+lead(?:'s)?\b
    | \bother\s+agents\b
    | \bwork\s+periods?\b
    | \bthe\s+issue(?:'s)?\s+(?:target|asks|quotes)\b
    | \b(?:was|were)\s+(?:tried|attempted)\b
    | \btried\s+and\s+not\s+shipped\b
    | \bwhat\s+moved\b
    | \bsuperseded\s+by\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
SELF = Path(__file__).resolve()
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".sh", ".sbatch", ".html", ".json", ".csv", ""}


def repository_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the file list comes from git ls-files")
    files = []
    for name in out.splitlines():
        p = ROOT / name
        if p.resolve() == SELF or p.suffix.lower() not in TEXT_SUFFIXES or not p.is_file():
            continue
        files.append(p)
    return files


def find_dating_phrases(text: str) -> list[tuple[int, str]]:
    """``(line number, matched phrase)`` for every dating phrase in ``text``."""
    hits = []
    for n, line in enumerate(text.splitlines(), 1):
        hits += [(n, m.group(0)) for m in DATING.finditer(line)]
    return hits


def test_no_dating_phrases_in_the_repository():
    found = []
    for p in repository_text_files():
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        found += [f"{p.relative_to(ROOT)}:{n}: {phrase!r}" for n, phrase in find_dating_phrases(text)]
    assert not found, "phrases that date the work (say what the toolkit does instead):\n" + "\n".join(found)


@pytest.mark.parametrize("text", [
    # test inputs of the detector, split so that the repository's own search does not list them
    "measured in the second " "session", "as in a run earlier this week", "changed in review",
    "after the review's batching fix", "for the lead's rerun", "while other agents shared the CPU",
    "the issue's target of 90 %", "three variants were tried", "Fourth " "session: adaptation",
])
def test_dating_phrases_are_found(text):
    assert find_dating_phrases(text), text


@pytest.mark.parametrize("text", [
    'fixture(scope="session")', "onnxruntime.InferenceSession(path)", "a CSV column named session",
    "review the report before publishing", "the second fold", "lower is tried first by auto-detection",
])
def test_ordinary_words_are_not_flagged(text):
    assert not find_dating_phrases(text), text
