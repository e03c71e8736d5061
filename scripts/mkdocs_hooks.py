"""MkDocs hooks of the audiocnn site (mkdocs.yml: ``hooks``).

- ``reference/cli.md`` is generated from the argument parsers at build time
  (scripts/gen_cli_reference.py), so the CLI reference cannot drift from the code.
- Navigation entries whose page is not in ``docs/`` are left out, so a guide can be listed in
  the navigation before its page is written without breaking a strict build.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["on_config", "on_files"]

_GENERATOR = Path(__file__).resolve().parent / "gen_cli_reference.py"

GENERATED = {"reference/cli.md"}


def _prune(nav, docs_dir: Path):
    out = []
    for entry in nav:
        if isinstance(entry, dict):
            (title, value), = entry.items()
            if isinstance(value, list):
                value = _prune(value, docs_dir)
                if value:
                    out.append({title: value})
            elif value in GENERATED or "://" in value or (docs_dir / value).exists():
                out.append(entry)
        elif entry in GENERATED or (docs_dir / entry).exists():
            out.append(entry)
    return out


def on_config(config, **kwargs):
    if config.get("nav"):
        config["nav"] = _prune(config["nav"], Path(config["docs_dir"]))
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    spec = importlib.util.spec_from_file_location("audiocnn_gen_cli_reference", _GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for path in GENERATED:
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
    files.append(File.generated(config, "reference/cli.md", content=generator.cli_reference_markdown()))
    return files
