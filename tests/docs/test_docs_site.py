"""The documentation site builds with warnings as errors, and the README's links resolve."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _slug(heading: str) -> str:
    # Python-Markdown's toc slugify: lower case, drop what is not a word character, space or hyphen.
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def _anchors(page: Path) -> set[str]:
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", page.read_text(encoding="utf-8"), flags=re.M)
    ids = re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8"))
    return {_slug(h) for h in heads} | set(ids)


@pytest.mark.slow
def test_site_builds_strict(tmp_path: Path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings-python is not installed (pip install -e '.[docs]')")
    exe = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    r = subprocess.run([exe, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}"
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").exists()
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "audiocnn train" in cli and "--checkpoint" in cli


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" in target or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        page = ROOT / path
        if not page.exists():
            bad.append(f"{target}: no such file")
        elif anchor and page.suffix == ".md" and anchor not in _anchors(page):
            bad.append(f"{target}: no heading or id '{anchor}' in {path}")
    assert not bad, "README links that do not resolve:\n" + "\n".join(bad)


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n < 150, f"README.md has {n} lines; the details belong in docs/"


def test_slug_matches_markdown_toc():
    assert _slug("FSDD, speaker-independent (`--adapt-im`)") == "fsdd-speaker-independent-adapt-im"
    assert _slug("Log-mel front-end speed") == "log-mel-front-end-speed"
    assert _slug("`cnn6_lite` defaults") == "cnn6_lite-defaults"
