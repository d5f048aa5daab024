#!/usr/bin/env python3
"""Start the ACE-Step LoRA Studio daemon (one per ACESTEP_STUDIO_HOME)."""
from __future__ import annotations

import argparse
import sys

from shared import home as homes
from shared.config import DaemonSettings
from shared.errors import StudioError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", help="studio home (default: $ACESTEP_STUDIO_HOME or ./.studio)")
    parser.add_argument("--log-level", default="INFO")
    DaemonSettings.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = DaemonSettings.from_args(args)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    home = homes.studio_home(args.home)
    from daemon.logs import setup_logging

    setup_logging(homes.log_file(home), args.log_level, config.log_max_bytes)
    homes.make_private(home)
    try:
        from daemon.server import serve

        return serve(config, home)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
