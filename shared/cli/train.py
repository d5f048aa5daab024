"""The `train` verb: settings from a preset or a profile, advice when asked, then submit the job.

    acestep-studio train --tensors tensors/ --preset recommended --set adapter_type=lokr --set epochs=20 --wait
    acestep-studio train --tensors tensors/ --preset auto --advise-epochs --dry-run
    acestep-studio train --profile my_profile.json --wait
    acestep-studio train --tensors tensors/ --resume .studio/runs/<job>/checkpoints/epoch_10

Settings are the defaults, then the profile or the preset (its LoRA or LoKr variant, by
`adapter_type`; `auto` picks the one that fits the daemon's GPU), then the epoch advice (only with
--advise-epochs), then each `--set key=value` (parsed by its declared type). Every choice made for
the user is printed as a note. Paths are made absolute here because the daemon runs in its own
working directory. `profile` and `presets` verbs: shared/cli/presets.py.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from shared.cli.util import client_from_args, print_json, print_table, submit_job
from shared.errors import SettingsError, StudioError
from shared.preset_advice import advise_epochs, choose_preset
from shared.presets import list_presets, load_preset
from shared.tensor_manifest import read_manifest, sample_count
from shared.train_profile import read_profile
from shared.train_settings import TrainSettings

AUTO = "auto"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a LoRA / LoKr adapter from a folder of training tensors")
    add_settings_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="print the settings the job would get; submit nothing")
    p.add_argument("--wait", action="store_true", help="follow the job; exit non-zero unless it succeeds")
    p.set_defaults(func=cmd_train)


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that make a set of training settings (train, profile save)."""
    p.add_argument("--tensors", help="folder of training tensors (from preprocess); a profile may name it")
    p.add_argument("--preset", help=f"a preset (see `presets`), or {AUTO!r}: the one that fits the daemon's GPU")
    p.add_argument("--profile", metavar="FILE", help="a profile file: every setting (instead of a preset)")
    p.add_argument("--advise-epochs", action="store_true",
                   help="set epochs and the checkpoint interval from the number of samples in --tensors")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any training setting, repeatable (e.g. --set rank=32 --set adapter_type=lokr)")
    p.add_argument("--resume", help="a checkpoint folder to resume from (checkpoints/epoch_N)")


@dataclass
class Plan:
    """The settings a verb resolved, what the user is told about them, and the profile's dataset."""

    settings: TrainSettings
    notes: list[str] = field(default_factory=list)
    dataset: str | None = None


def plan_settings(args: argparse.Namespace, require_tensors: bool = True) -> Plan:
    """Defaults, then the profile or preset, then the epoch advice, then --set; paths absolute."""
    overrides = TrainSettings().with_overrides(args.overrides)  # every --set checked before anything else
    explicit = [pair.split("=", 1)[0].strip() for pair in args.overrides]
    plan = _base(args, overrides.adapter_type if "adapter_type" in explicit else None)
    changes: dict = {}
    if args.tensors:
        changes["tensors_dir"] = os.path.abspath(args.tensors)
    tensors = changes.get("tensors_dir") or plan.settings.tensors_dir
    if require_tensors and not tensors:
        raise SettingsError("train.tensors_dir: give --tensors DIR (the folder made by `preprocess`)")
    if args.advise_epochs:
        if not tensors:
            raise SettingsError("--advise-epochs counts the samples in --tensors DIR; give it")
        advice = advise_epochs(sample_count(tensors))
        kept = [k for k in advice.settings() if k in explicit]
        changes.update({k: v for k, v in advice.settings().items() if k not in explicit})
        plan.notes.append(f"epoch advice applied: {advice.describe()}"
                          + (f"; your --set {', '.join(kept)} wins" if kept else ""))
    changes.update({k: v for k, v in overrides.to_dict().items() if k in explicit})
    if args.resume:
        changes["resume_from"] = os.path.abspath(args.resume)
    plan.settings = plan.settings.replace(**changes)
    return plan


def _base(args: argparse.Namespace, adapter_type: str | None) -> Plan:
    """The profile's or the preset's settings (defaults when neither is given)."""
    if args.profile and args.preset:
        raise SettingsError("--profile and --preset both give every setting; choose one")
    if args.profile:
        try:
            text = Path(args.profile).read_bytes()
        except OSError as err:
            raise SettingsError(f"profile {args.profile}: cannot be read ({err.strerror})") from None
        profile = read_profile(text, args.profile)
        notes = [f"profile {args.profile}: unknown setting {k!r} not applied" for k in profile.unknown]
        return Plan(profile.settings, notes, profile.dataset)
    if not args.preset:
        return Plan(TrainSettings())
    notes = []
    name = args.preset
    if name == AUTO:
        choice = choose_preset(_gpu(args), list_presets(home=args.home))
        notes.append(choice.describe())
        name = choice.name
    preset = load_preset(name, adapter_type, home=args.home)
    notes += [f"preset {name!r} has an unknown setting {k!r}; not applied" for k in preset.unknown]
    return Plan(preset.settings, notes)


def _gpu(args: argparse.Namespace) -> dict:
    """The daemon's `gpu` reply: what --preset auto sizes the preset by."""
    try:
        return client_from_args(args).request("gpu", {})
    except StudioError as err:
        raise SettingsError(f"--preset {AUTO} asks the daemon which GPU it has, and it did not answer "
                            f"({err}); start it, or name a preset (see `presets`)") from None


def dataset_reference(plan: Plan) -> str | None:
    """The dataset a profile names: the profile's own, else the one the tensors were made from."""
    if plan.dataset or not plan.settings.tensors_dir:
        return plan.dataset
    try:
        manifest = read_manifest(plan.settings.tensors_dir) or {}
    except StudioError:
        return None
    return manifest.get("dataset_file_absolute") if isinstance(manifest, dict) else None


def print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def print_settings(settings: TrainSettings, as_json: bool, notes: list[str] | None = None) -> None:
    """Every setting, marking those that differ from the default (or JSON with the notes)."""
    if as_json:
        print_json({"settings": settings.to_dict(), "notes": notes or []})
        return
    defaults = TrainSettings().to_dict()
    rows = [{"setting": k, "value": v, "changed": "" if v == defaults[k] else "*"}
            for k, v in settings.to_dict().items()]
    print_table(rows, ["setting", "value", "changed"])


def cmd_train(args: argparse.Namespace) -> int:
    plan = plan_settings(args)
    print_notes(plan.notes)
    if args.dry_run:
        print_settings(plan.settings, args.json, plan.notes)
        return 0
    return submit_job(args, "train", plan.settings.to_dict())


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """The job's settings for the `train` flags (notes dropped): for callers that only need those."""
    return plan_settings(args).settings
