"""Preprocessing verbs: `preprocess` (submit the job), `tensors` (show a tensor folder of any
origin) and `tensors export` (a job writing it in ACE-Step's own layout).

    acestep-studio preprocess songs/dataset.json -o tensors/ --normalize lufs --two-pass --wait
    acestep-studio tensors tensors/
    acestep-studio tensors export tensors/ --format acestep -o tensors_acestep/ --wait

Flags come from `PreprocessSettings` (the settings registry); paths are made absolute here
because the daemon runs in its own working directory.
"""
from __future__ import annotations

import argparse
import os
import sys

from shared.cli.util import print_json, print_table, submit_job
from shared.errors import SettingsError
from shared.preprocess_settings import PreprocessSettings
from shared.tensor_export import EXPORT_FORMATS, TensorExportSettings
from shared.tensor_manifest import describe_folder

FLAGS = ["normalize", "target_lufs", "peak_dbfs", "max_duration", "long_clips", "two_pass", "checkpoint",
         "tile_seconds", "tile_overlap", "workers", "prefetch", "max_text_tokens", "max_lyric_tokens",
         "overwrite"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="encode a dataset's audio and labels into training tensors")
    p.add_argument("dataset", help="the dataset JSON file")
    p.add_argument("-o", "--output-dir", required=True, help="folder for the tensors and manifest.json")
    PreprocessSettings.add_arguments(p, only=FLAGS)
    p.add_argument("--wait", action="store_true", help="follow the job; exit non-zero unless it succeeds")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("tensors", help="list a tensor folder's samples, model and warnings; "
                                       "`tensors export DIR --format acestep -o OUT` for ACE-Step's trainer")
    p.add_argument("folder", help="the tensor folder (or `export`, then the export's arguments)")
    p.add_argument("export_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_tensors)


def export_parser() -> argparse.ArgumentParser:
    """`tensors export`'s own flags (a folder named `export` is still shown: `tensors ./export`)."""
    p = argparse.ArgumentParser(prog="acestep-studio tensors export",
                                description="write a studio tensor folder in another trainer's layout (a job)")
    p.add_argument("folder")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("-o", "--output", required=True, help="the folder to write (empty, or --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that holds files already")
    p.add_argument("--wait", action="store_true", help="follow the job; exit non-zero unless it succeeds")
    return p


def settings_from_args(args: argparse.Namespace) -> PreprocessSettings:
    """The job's settings from the flags, with both paths absolute."""
    base = {"dataset": os.path.abspath(args.dataset), "output_dir": os.path.abspath(args.output_dir)}
    namespace = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in base})
    settings = PreprocessSettings.from_args(namespace, base)
    settings.require_paths()
    return settings


def cmd_preprocess(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    return submit_job(args, "preprocess", settings.to_dict())


def cmd_tensors(args: argparse.Namespace) -> int:
    if args.folder == "export":
        return cmd_tensors_export(args, export_parser().parse_args(args.export_args))
    if args.export_args:
        raise SettingsError(f"tensors: unexpected arguments {' '.join(args.export_args)}")
    folder = describe_folder(args.folder)
    if args.json:
        print_json(folder)
        return 0
    for warning in folder["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    kind = {"studio": "studio folder", "acestep": "ACE-Step folder", "legacy": "folder without a manifest"}
    model = folder["model"] or "not recorded"
    print(f"folder   {folder['folder']} ({kind[folder['kind']]})")
    print(f"model    {model}" + (f" (fingerprint {folder['fingerprint'][:12]})" if folder["fingerprint"] else ""))
    print(f"dataset  {folder['dataset'] or '-'}")
    if folder["trigger_word"]:
        print(f"trigger  {folder['trigger_word']} ({folder.get('tag_position') or 'prepend'})")
    print(f"samples  {len(folder['samples'])}")
    if folder["kind"] == "studio":
        print_table(folder["samples"], ["file", "duration_s", "frames", "condition_tokens", "text_tokens",
                                        "lyric_tokens"])
    else:
        print_table(folder["samples"], ["file", "exists", "mb"])
    if folder["errors"]:
        print(f"\n{len(folder['errors'])} file(s) skipped:")
        print_table(folder["errors"], ["file", "reason"])
    return 0


def cmd_tensors_export(args: argparse.Namespace, export: argparse.Namespace) -> int:
    settings = TensorExportSettings.from_dict({
        "tensors_dir": os.path.abspath(export.folder), "output_dir": os.path.abspath(export.output),
        "format": export.format, "overwrite": export.overwrite})
    args.wait = export.wait
    return submit_job(args, "export_tensors", settings.to_dict())
