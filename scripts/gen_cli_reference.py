"""Write the CLI reference (docs/reference/cli.md) from the argument parsers.

The page is made from ``audiocnn.cli.build_parser()``: one section per command with its
``--help`` text, so it cannot drift from the code. The docs site generates it at build time
(scripts/mkdocs_hooks.py); run this script to write the file for reading without the site::

    python scripts/gen_cli_reference.py              # writes docs/reference/cli.md
    python scripts/gen_cli_reference.py --stdout     # prints it
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["cli_reference_markdown", "main"]

ROOT = Path(__file__).resolve().parents[1]


def _help_text(parser: argparse.ArgumentParser) -> str:
    # A fixed width keeps the page the same on every terminal.
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def cli_reference_markdown() -> str:
    """The whole CLI reference as Markdown: the top-level help, then one section per command."""
    from audiocnn.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {a.dest: a.help or "" for a in sub._choices_actions}
    lines = [
        "# Command-line reference",
        "",
        "Generated from the argument parsers of `audiocnn` (`audiocnn COMMAND --help` prints the same).",
        "Every command also takes `-q/--quiet` (warnings and errors only, no progress bars) and",
        "`-v/--verbose` (debug log lines).",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    for name in sub.choices:
        lines.append(f"| [`{name}`](#{name}) | {summaries.get(name, '')} |")
    lines += ["", "## audiocnn", "", "```text", _help_text(parser), "```", ""]
    for name, p in sub.choices.items():
        lines += [f"## {name}", "", "```text", _help_text(p), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stdout", action="store_true", help="print instead of writing docs/reference/cli.md")
    args = ap.parse_args(argv)
    text = cli_reference_markdown()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    from audiocnn.atomic import write_text_atomic

    out = ROOT / "docs" / "reference" / "cli.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
