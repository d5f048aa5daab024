"""Output verbs: `merge` (an adapter into the base DiT, as a new checkpoint folder) and `export`
(an adapter for ComfyUI, or a plain copy of its files).

    acestep-studio merge --adapter .studio/runs/<job>/final --strength 1.0 --wait
    acestep-studio export --adapter .studio/runs/<job>/final --wait                 # ComfyUI file
    acestep-studio export --adapter .studio/runs/<job>/best --format copy --output ~/loras/mine --wait

Flags are derived from MergeSettings / ExportSettings (shared/export_settings.py); with --wait the
verbs print what they wrote. Existing files and folders are never replaced.
"""
from __future__ import annotations

import argparse
import os

from shared.cli.sample import submit_and_print_files
from shared.export_settings import ExportSettings, MergeSettings

PATH_FIELDS = ("adapter", "output", "checkpoints_dir")


def register(sub: argparse._SubParsersAction) -> None:
    for verb, group, help in (
            ("merge", MergeSettings, "merge an adapter into the base DiT as a new checkpoint folder"),
            ("export", ExportSettings, "export an adapter for ComfyUI, or copy its files to a folder")):
        p = sub.add_parser(verb, help=help)
        group.add_arguments(p)
        p.add_argument("--wait", action="store_true", help="follow the job, then print what it wrote")
        p.set_defaults(func=cmd_job, group=group, kind=verb)


def cmd_job(args: argparse.Namespace) -> int:
    settings = args.group.from_args(args)
    paths = {name: os.path.abspath(os.path.expanduser(getattr(settings, name)))
             for name in PATH_FIELDS if getattr(settings, name, "")}
    return submit_and_print_files(args, args.kind, settings.replace(**paths).to_dict())
