"""Training verbs: `train` (submit the job) and `presets` (list the training presets).

    acestep-studio train --tensors tensors/ --preset recommended --set adapter_type=lokr --set epochs=20 --wait
    acestep-studio train --tensors tensors/ --resume .studio/runs/<job>/checkpoints/epoch_10
    acestep-studio presets

Settings are the defaults, then the preset (its LoRA or LoKr variant, by `adapter_type`), then each
`--set key=value` (parsed by its declared type). Paths are made absolute here because the daemon
runs in its own working directory.
"""
from __future__ import annotations

import argparse
import os
import sys

from shared.cli.util import print_json, print_table, submit_job
from shared.presets import list_presets, load_preset
from shared.train_settings import TrainSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a LoRA / LoKr adapter from a folder of training tensors")
    p.add_argument("--tensors", required=True, help="folder of training tensors (from preprocess)")
    p.add_argument("--preset", help="a preset from presets/ (see `presets`)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any training setting, repeatable (e.g. --set rank=32 --set adapter_type=lokr)")
    p.add_argument("--resume", help="a checkpoint folder to resume from (checkpoints/epoch_N)")
    p.add_argument("--wait", action="store_true", help="follow the job; exit non-zero unless it succeeds")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("presets", help="list the training presets")
    p.set_defaults(func=cmd_presets)


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """Defaults, then the preset's variant, then the --set overrides; paths absolute."""
    overrides = TrainSettings().with_overrides(args.overrides)
    explicit = {pair.split("=", 1)[0].strip() for pair in args.overrides}
    settings = TrainSettings()
    if args.preset:
        preset = load_preset(args.preset, overrides.adapter_type if "adapter_type" in explicit else "lora")
        for key in preset.unknown:
            print(f"warning: preset {args.preset!r} has an unknown setting {key!r}; ignored", file=sys.stderr)
        settings = preset.settings
    changes = {k: v for k, v in overrides.to_dict().items() if k in explicit}
    changes["tensors_dir"] = os.path.abspath(args.tensors)
    if args.resume:
        changes["resume_from"] = os.path.abspath(args.resume)
    return settings.replace(**changes)


def cmd_train(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    return submit_job(args, "train", settings.to_dict())


def cmd_presets(args: argparse.Namespace) -> int:
    presets = list_presets()
    rows = [{"name": p.name, "min_vram_gb": p.min_vram_gb, "variants": ", ".join(p.variants),
             "description": p.description} for p in presets]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["name", "min_vram_gb", "variants", "description"])
    return 0
