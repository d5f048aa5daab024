"""Training profiles (PR-2): every training setting and the dataset reference in one JSON file.

    {"format": "acestep-studio-profile", "version": 1,
     "dataset": "/abs/data/dataset.json",          # the dataset the tensors came from, or null
     "settings": {...every TrainSettings field, tensors_dir and resume_from included...}}

`dump_profile` writes all fields, so nothing is dropped; `read_profile` validates through
`TrainSettings.from_dict` and reports unknown keys instead of applying or silently dropping them.
No torch here: the dashboard and the CLI read profiles.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from shared.errors import SettingsError
from shared.train_settings import TrainSettings

PROFILE_FORMAT = "acestep-studio-profile"
PROFILE_VERSION = 1


@dataclass
class Profile:
    settings: TrainSettings
    dataset: str | None = None
    unknown: list[str] = field(default_factory=list)


def profile_data(settings: TrainSettings, dataset: str | None = None) -> dict:
    """The profile as JSON data: every setting (defaults included) and the dataset reference."""
    return {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "dataset": dataset or None,
            "settings": settings.to_dict()}


def dump_profile(settings: TrainSettings, dataset: str | None = None) -> str:
    """The profile file's text (a download, or `profile save`)."""
    return json.dumps(profile_data(settings, dataset), indent=2) + "\n"


def read_profile(text: str | bytes, source: str = "profile") -> Profile:
    """Parse and validate a profile; a bare settings object is accepted too.

    Unknown keys are listed in `unknown` and not applied; a wrong type or value raises
    SettingsError naming `source` and the field.
    """
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SettingsError(f"{source}: not a JSON file ({err})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if "settings" in data or data.get("format") == PROFILE_FORMAT:
        if data.get("format", PROFILE_FORMAT) != PROFILE_FORMAT:
            raise SettingsError(f"{source}: format {data.get('format')!r} is not {PROFILE_FORMAT!r}")
        settings, dataset = data.get("settings"), data.get("dataset")
        unknown_top = sorted(set(data) - {"format", "version", "dataset", "settings"})
    else:  # a plain {setting: value} object, as `settings.json` of a run folder holds inside
        settings, dataset, unknown_top = data, None, []
    if not isinstance(settings, dict):
        raise SettingsError(f"{source}: 'settings' must be an object of training settings")
    if dataset is not None and not isinstance(dataset, str):
        raise SettingsError(f"{source}: 'dataset' must be a path or null, got {dataset!r}")
    try:
        parsed = TrainSettings.from_dict(settings, strict=False)  # unknown keys: reported below
    except SettingsError as err:
        raise SettingsError(f"{source}: {err}") from None
    unknown = TrainSettings.unknown_keys(settings) + [f"(top level) {k}" for k in unknown_top]
    return Profile(parsed, dataset, unknown)
