"""Preset and profile verbs; they work on files alone, without a daemon.

    acestep-studio presets                                        # shipped presets and your own
    acestep-studio presets show recommended --variant lokr
    acestep-studio presets import fast.json --as fast             # a Side-Step or ace-lora-trainer preset
    acestep-studio presets import fast.json --profile fast_profile.json
    acestep-studio presets export fast --format sidestep -o fast_sidestep.json
    acestep-studio profile save my_profile.json --preset recommended --tensors tensors/ --set epochs=300
    acestep-studio profile show my_profile.json

Imported presets go to `<studio home>/presets/`; the mapping is shared.preset_formats. Every key
not carried on import, and every setting the other tool has no key for on export, is printed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.atomic import write_json_atomic
from shared.cli.train import add_settings_arguments, dataset_reference, plan_settings, print_notes, print_settings
from shared.cli.util import print_json, print_table
from shared.errors import SettingsError
from shared.preset_formats import FORMATS, Imported, export_foreign, import_foreign
from shared.presets import list_presets, load_preset, save_user_preset, user_presets_dir
from shared.train_profile import profile_data, read_profile
from shared.train_settings import ADAPTER_TYPES


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("presets", help="list, show, import (Side-Step, ace-lora-trainer) and export presets")
    parser.set_defaults(func=cmd_list)
    verbs = parser.add_subparsers(dest="presets_verb", metavar="PRESETS_VERB")
    verbs.add_parser("list", help="every preset: shipped and your own").set_defaults(func=cmd_list)

    p = verbs.add_parser("show", help="a preset's settings for an adapter type")
    p.add_argument("name")
    p.add_argument("--variant", choices=ADAPTER_TYPES, help="adapter type (default: the preset's own)")
    p.set_defaults(func=cmd_show)

    p = verbs.add_parser("import", help="a Side-Step or ace-lora-trainer preset file as a studio preset")
    p.add_argument("file", type=Path)
    p.add_argument("--as", dest="as_name", metavar="NAME", help="the preset's name (default: its own or the file's)")
    p.add_argument("--from", dest="source_format", choices=list(FORMATS), help="the tool (default: detected)")
    p.add_argument("--profile", type=Path, metavar="FILE", help="write a profile file instead of a preset")
    p.add_argument("--replace", action="store_true", help="replace your preset (or profile) of that name")
    p.set_defaults(func=cmd_import)

    p = verbs.add_parser("export", help="a preset (or a profile file) as another tool's preset file")
    p.add_argument("name", help="a preset name, or a profile file")
    p.add_argument("--format", required=True, choices=list(FORMATS))
    p.add_argument("--variant", choices=ADAPTER_TYPES, help="adapter type (default: the preset's own)")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: print it)")
    p.add_argument("--replace", action="store_true", help="replace the output file if it exists")
    p.set_defaults(func=cmd_export)

    profile = sub.add_parser("profile", help="save or show a profile: every training setting in one file")
    pverbs = profile.add_subparsers(dest="profile_verb", metavar="PROFILE_VERB", required=True)
    p = pverbs.add_parser("save", help="write the settings these flags make (as `train` would) to a file")
    p.add_argument("file", type=Path)
    add_settings_arguments(p)
    p.add_argument("--dataset", help="the dataset file to record (default: the one the tensors came from)")
    p.add_argument("--replace", action="store_true", help="replace the file if it exists")
    p.set_defaults(func=cmd_profile_save)
    p = pverbs.add_parser("show", help="a profile's settings, dataset and unknown keys")
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_profile_show)


def cmd_list(args: argparse.Namespace) -> int:
    rows = [{"name": p.name, "source": p.source, "min_vram_gb": p.min_vram_gb, "variants": ", ".join(p.variants),
             "description": p.description} for p in list_presets(home=args.home)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["name", "source", "min_vram_gb", "variants", "description"])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    preset = load_preset(args.name, args.variant, home=args.home)
    notes = [f"unknown setting {k!r} in the preset, not applied" for k in preset.unknown]
    print_notes(notes)
    print_settings(preset.settings, args.json, notes)
    return 0


def _read_json(path: Path, home: str | None) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SettingsError(f"{path}: cannot be read as JSON ({err})") from None
    if isinstance(data, dict) and ("settings" in data or "variants" in data):
        raise SettingsError(f"{path} is a studio preset or profile already: use `train --profile {path}`, or "
                            f"copy a preset into {user_presets_dir(home)}")
    return data


def _writable(path: Path, replace: bool) -> Path:
    if path.exists() and not replace:
        raise SettingsError(f"{path} exists; choose another file or add --replace")
    return path


def cmd_import(args: argparse.Namespace) -> int:
    imported = import_foreign(_read_json(args.file, args.home), args.source_format, str(args.file))
    if args.profile:
        target = write_json_atomic(_writable(args.profile, args.replace), profile_data(imported.settings))
        what = f"profile {target}"
    else:
        name = args.as_name or (imported.name or args.file.stem).strip().replace(" ", "_")
        target = save_user_preset(name, imported.preset_data(args.file.name), args.home, overwrite=args.replace)
        what = f"preset {name!r} ({target})"
    _print_import(imported, what, args.json)
    return 0


def _print_import(imported: Imported, what: str, as_json: bool) -> None:
    if as_json:
        print_json({"written": what, "format": imported.format,
                    "carried": {k: {"setting": s, "value": v} for k, (s, v) in imported.carried.items()},
                    "not_carried": {k: {"value": v, "why": why} for k, (v, why) in imported.not_carried.items()},
                    "unknown": imported.unknown})
        return
    print(f"{imported.label} preset imported as {what}")
    print_table([{"theirs": k, "setting": s, "value": v} for k, (s, v) in imported.carried.items()],
                ["theirs", "setting", "value"], [f"{imported.label.upper()} KEY", "STUDIO SETTING", "VALUE"])
    report = imported.report()
    if report:
        print(f"\n{len(report)} key(s) not carried:")
        for line in report:
            print(f"  {line}")


def cmd_export(args: argparse.Namespace) -> int:
    path = Path(args.name)
    if path.suffix == ".json" and path.is_file():
        profile = read_profile(path.read_bytes(), str(path))
        settings, name, description = profile.settings, path.stem, f"Exported from the studio profile {path.name}"
        if args.variant:
            settings = settings.replace(adapter_type=args.variant)
    else:
        preset = load_preset(args.name, args.variant, home=args.home)
        info = next((p for p in list_presets(home=args.home) if p.name == args.name), None)
        settings, name = preset.settings, args.name
        description = info.description if info else ""
    data, left_out = export_foreign(settings, args.format, name, description)
    label = FORMATS[args.format].label
    if args.output:
        write_json_atomic(_writable(args.output, args.replace), data)
        print(f"{label} preset written to {args.output}", file=sys.stderr)
    else:
        print_json(data)
    if left_out:
        print(f"note: {label} has no key for these studio settings; it uses its own: {', '.join(left_out)}",
              file=sys.stderr)
    return 0


def cmd_profile_save(args: argparse.Namespace) -> int:
    plan = plan_settings(args, require_tensors=False)
    dataset = args.dataset or dataset_reference(plan)
    target = write_json_atomic(_writable(args.file, args.replace), profile_data(plan.settings, dataset))
    print_notes(plan.notes)
    if args.json:
        print_json({"profile": str(target), "dataset": dataset, "notes": plan.notes})
    else:
        print(f"profile written to {target}" + (f" (dataset {dataset})" if dataset else ""))
    return 0


def cmd_profile_show(args: argparse.Namespace) -> int:
    try:
        text = args.file.read_bytes()
    except OSError as err:
        raise SettingsError(f"profile {args.file}: cannot be read ({err.strerror})") from None
    profile = read_profile(text, str(args.file))
    if args.json:
        print_json({"dataset": profile.dataset, "settings": profile.settings.to_dict(), "unknown": profile.unknown})
        return 0
    print(f"dataset  {profile.dataset or '(none recorded)'}")
    for key in profile.unknown:
        print(f"note: unknown setting {key!r}, not applied", file=sys.stderr)
    print_settings(profile.settings, False)
    return 0

