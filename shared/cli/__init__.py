"""`acestep-studio`: the command line. Verbs are added by the modules in CLI_MODULES.

Each module has `register(subparsers)` and sets `func(args) -> int` on its parsers. Verbs that
talk to the daemon use `shared.cli.util.client_from_args`; `--json` prints machine-readable output.
Modules that need torch (the demo generator) import it inside the verb, never at module level.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from shared.errors import StudioError

CLI_MODULES = [
    "shared.cli.core",
    "shared.cli.settings",
    "shared.cli.models",
    "shared.cli.preprocess",
    "shared.cli.dataset",
    "shared.cli.train",
    "shared.cli.runs",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acestep-studio", description="ACE-Step LoRA Studio")
    parser.add_argument("--home", help="studio home (default: $ACESTEP_STUDIO_HOME or ./.studio)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a reply")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in CLI_MODULES:
        importlib.import_module(name).register(sub)
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


if __name__ == "__main__":
    sys.exit(main())
