"""Preprocessing verbs: `preprocess` (submit the job) and `tensors` (show a tensor folder's manifest).

    acestep-studio preprocess songs/dataset.json -o tensors/ --normalize lufs --two-pass --wait
    acestep-studio tensors tensors/

Flags come from `PreprocessSettings` (the settings registry); paths are made absolute here
because the daemon runs in its own working directory.
"""
from __future__ import annotations

import argparse
import os

from shared.cli.util import print_json, print_table, submit_job
from shared.errors import TensorFolderError
from shared.preprocess_settings import PreprocessSettings
from shared.tensor_manifest import manifest_errors, manifest_rows, read_manifest

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

    p = sub.add_parser("tensors", help="list a tensor folder's files and errors (from its manifest)")
    p.add_argument("folder")
    p.set_defaults(func=cmd_tensors)


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
    manifest = read_manifest(args.folder)
    if manifest is None:
        raise TensorFolderError(f"{args.folder}: no manifest.json (not a preprocessed folder, or a legacy one)")
    if args.json:
        print_json(manifest)
        return 0
    model = manifest.get("model") or {}
    print(f"model    {model.get('name')} (fingerprint {str(model.get('fingerprint'))[:12]})")
    print(f"dataset  {manifest.get('dataset_file_absolute') or manifest.get('dataset_file')}")
    print(f"complete {manifest.get('complete')}")
    print_table(manifest_rows(manifest), ["file", "duration_s", "frames", "condition_tokens", "text_tokens",
                                          "lyric_tokens"])
    errors = manifest_errors(manifest)
    if errors:
        print(f"\n{len(errors)} file(s) skipped:")
        print_table(errors, ["file", "reason"])
    return 0
