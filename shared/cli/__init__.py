"""`acestep-studio`: the command line. Verbs are added by the modules in CLI_MODULES.

Each module has `register(subparsers)` and sets `func(args) -> int` on its parsers. Verbs that
talk to the daemon use `shared.cli.util.client_from_args`; `--json` prints machine-readable output.
Modules that need torch (the demo generator) import it inside the verb, never at module level.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from shared.errors import StudioError

CLI_MODULES = [
    "shared.cli.core",
    "shared.cli.settings",
    "shared.cli.models",
    "shared.cli.preprocess",
    "shared.cli.dataset",
    "shared.cli.train",
    "shared.cli.presets",
    "shared.cli.sample",
    "shared.cli.export",
    "shared.cli.caption",
    "shared.cli.runs",
    "shared.cli.pipeline",
]


def add_common_flags(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--home, --json and --timeout. On the verbs they default to SUPPRESS, so a flag given before
    the verb is not reset by the verb's parser: they are accepted anywhere on the line."""
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--home", default=default(None),
                        help="studio home (default: $ACESTEP_STUDIO_HOME or ./.studio)")
    parser.add_argument("--json", action="store_true", default=default(False), help="machine-readable JSON output")
    parser.add_argument("--timeout", type=float, default=default(10.0), help="seconds to wait for a reply")


def _verb_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below `parser`: verbs, and verbs of verb groups (`dataset scan`)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += [child, *_verb_parsers(child)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acestep-studio", description="ACE-Step LoRA Studio")
    add_common_flags(parser, defaults=True)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in CLI_MODULES:
        importlib.import_module(name).register(sub)
    for verb in _verb_parsers(parser):
        add_common_flags(verb, defaults=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()


def _reader_went_away() -> int:
    """The reader of our output (`| head`, `| less`) closed the pipe: stop quietly, as `cat` does.
    stdout is pointed at /dev/null so Python's own flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a program a pipe stopped


if __name__ == "__main__":
    sys.exit(main())
