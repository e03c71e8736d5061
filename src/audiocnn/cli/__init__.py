"""The ``audiocnn`` command. Each sub-command lives in a module of this package that defines

    ORDER: int                      # position in --help
    def register(subparsers): ...   # adds its parser, with ``set_defaults(func=run)``

and is a thin wrapper over library functions. Modules are discovered, so adding a file adds a
command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

__all__ = ["build_parser", "main"]

EPILOG = """examples:
  audiocnn demo                                  # train + 5-fold evaluation on built-in synthetic data
  audiocnn models                                # the model zoo with sizes and costs
  audiocnn train --data my_clips/ --out runs/x   # k-fold training on a folder of class sub-folders
  audiocnn tag clip.wav --model cnn14 --checkpoint Cnn14_mAP=0.431.pth --labels class_labels_indices.csv
"""


def _command_modules():
    import audiocnn.cli as pkg

    mods = [importlib.import_module(f"audiocnn.cli.{m.name}") for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    return sorted((m for m in mods if hasattr(m, "register")), key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    from audiocnn import __version__

    parser = argparse.ArgumentParser(
        prog="audiocnn",
        description="Audio classification with convolutional networks: train, evaluate, tag, detect, embed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"audiocnn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        mod.register(sub)
    for p in sub.choices.values():  # also accepted after the command: `audiocnn train ... -q`
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="warnings and errors only, no progress bars")
    return parser


def _configure_output(args: argparse.Namespace) -> None:
    """Log level from -v/-q; progress bars only when stderr is a terminal and not --quiet."""
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(level)
    if hasattr(args, "no_progress") and (args.quiet or not sys.stderr.isatty()):
        args.no_progress = True


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_output(args)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from audiocnn.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, AudiocnnError, UsageError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:  # the exit codes are in audiocnn.errors and docs/reliability.md
        print(f"audiocnn {args.command}: interrupted" + (f"; {e}" if str(e) else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, ValueError, AudiocnnError) as e:  # user errors: one clear line, no traceback
        if args.verbose:
            raise
        print(f"audiocnn {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, UsageError) else EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
