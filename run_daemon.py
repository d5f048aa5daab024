#!/usr/bin/env python3
"""Start the ACE-Step LoRA Studio daemon (one per ACESTEP_STUDIO_HOME)."""
from __future__ import annotations

import argparse
import logging
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
    home = homes.studio_home(args.home)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stderr), logging.FileHandler(homes.log_file(home))],
    )
    try:
        from daemon.server import serve

        return serve(DaemonSettings.from_args(args), home)
    except StudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
