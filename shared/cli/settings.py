"""`acestep-studio settings [GROUP] [--markdown]`: every setting, its type, default and help."""
from __future__ import annotations

import argparse

from shared import settings_catalog
from shared.cli.util import print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settings", help="list the settings of a group (daemon, preprocess, train, ...)")
    p.add_argument("group", nargs="?", help=f"one of {', '.join(settings_catalog.GROUPS)}")
    p.add_argument("--markdown", action="store_true", help="print the reference as Markdown")
    p.set_defaults(func=cmd_settings)


def cmd_settings(args: argparse.Namespace) -> int:
    if args.group is None:
        if args.markdown:
            print(settings_catalog.all_markdown())
        else:
            print_table([{"group": g} for g in settings_catalog.GROUPS], ["group"])
        return 0
    group = settings_catalog.group(args.group)
    if args.markdown:
        print(group.markdown())
        return 0
    rows = [{"name": s.name, "type": s.type_name(), "default": s.default, "section": s.section, "help": s.help}
            for s in group.specs()]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["name", "type", "default", "section", "help"])
    return 0
