"""Training presets: JSON files, each with shared settings and a LoRA and a LoKr variant.

    {"description": "...", "min_vram_gb": 16,
     "settings": {...TrainSettings fields...},
     "variants": {"lora": {...}, "lokr": {...}}}

The shipped presets live in `presets/`; presets a user imports (Side-Step, ace-lora-trainer, see
`shared.preset_formats`) live in `<studio home>/presets/` and may not take a shipped name.

    list_presets(home=...)                # [PresetInfo(name, description, min_vram_gb, variants, source)]
    preset = load_preset("recommended", "lokr")
    preset.settings                       # a TrainSettings (defaults + shared + variant)
    preset.unknown                        # keys TrainSettings doesn't know: reported, never applied

No torch here: the CLI and the dashboard read presets too. Choosing a preset by the GPU's memory
and the epochs for a dataset's size live in `shared.preset_advice`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from shared.atomic import write_json_atomic
from shared.errors import SettingsError
from shared.home import studio_home
from shared.train_settings import TrainSettings, adapter_family

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
ENV_PRESETS_DIR = "ACESTEP_STUDIO_PRESETS"
USER_PRESETS = "presets"  # the folder in the studio home
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def presets_dir() -> Path:
    """The shipped presets (ACESTEP_STUDIO_PRESETS points elsewhere)."""
    return Path(os.environ.get(ENV_PRESETS_DIR) or PRESETS_DIR)


def user_presets_dir(home: str | os.PathLike | None = None) -> Path:
    """The presets a user imported or saved, in the studio home (not created here)."""
    return studio_home(home) / USER_PRESETS


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    min_vram_gb: float | None
    variants: tuple[str, ...]
    source: str = "shipped"  # or "user"
    path: str = ""


@dataclass
class Preset:
    name: str
    variant: str
    settings: TrainSettings
    unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The settings as a plain dict (for `--set` overrides or a job submission)."""
        return self.settings.to_dict()


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SettingsError(f"preset {path}: cannot be read as JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("settings", {}), dict) \
            or not isinstance(data.get("variants") or {}, dict):
        raise SettingsError(f"preset {path}: expected an object with 'settings' and 'variants'")
    return data


def _folders(folder: Path | None, home: str | os.PathLike | None) -> list[tuple[Path, str]]:
    if folder is not None:
        return [(Path(folder), "shipped")]
    return [(presets_dir(), "shipped"), (user_presets_dir(home), "user")]


def list_presets(folder: Path | None = None, home: str | os.PathLike | None = None) -> list[PresetInfo]:
    """Every preset by name: the shipped ones, then the user's (or those of `folder` alone)."""
    out, seen = [], set()
    for where, source in _folders(folder, home):
        for path in sorted(where.glob("*.json")) if where.is_dir() else []:
            if path.stem in seen:
                continue  # a user file may not shadow a shipped preset
            seen.add(path.stem)
            data = _read(path)
            out.append(PresetInfo(path.stem, str(data.get("description", "")), data.get("min_vram_gb"),
                                  tuple(sorted((data.get("variants") or {}).keys())), source, str(path)))
    return out


def preset_path(name: str, folder: Path | None = None, home: str | os.PathLike | None = None) -> Path:
    """The file of preset `name`; SettingsError listing the known names when there is none."""
    for where, _source in _folders(folder, home):
        if (where / f"{name}.json").is_file():
            return where / f"{name}.json"
    known = ", ".join(p.name for p in list_presets(folder, home)) or "none"
    raise SettingsError(f"no preset {name!r} (available: {known})")


def variant_for(adapter_type: str) -> str:
    """LoRA and DoRA use the `lora` variant; LoKr and LoHa the `lokr` one."""
    return "lokr" if adapter_family(adapter_type) == "lycoris" else "lora"


def _own_adapter(variants: dict) -> str:
    """The adapter type a preset trains when none is asked for: LoRA when it has that variant."""
    if not variants or "lora" in variants:
        return "lora"
    only = sorted(variants)[0]
    return str(variants[only].get("adapter_type") or only)


def load_preset(name: str, adapter_type: str | None = "lora", folder: Path | None = None,
                home: str | os.PathLike | None = None) -> Preset:
    """The preset's settings for an adapter type (None: its own, the LoRA one when it has both);
    unknown keys are listed in `unknown`, not applied."""
    path = preset_path(name, folder, home)
    data = _read(path)
    variants = data.get("variants") or {}
    adapter_type = adapter_type or _own_adapter(variants)
    variant = variant_for(adapter_type)
    if variants and variant not in variants:
        raise SettingsError(f"preset {name!r} has no {variant} variant (has: {', '.join(variants)})")
    merged = {**data.get("settings", {}), **variants.get(variant, {})}
    if adapter_type in ("dora", "loha"):
        merged["adapter_type"] = adapter_type
    unknown = TrainSettings.unknown_keys(merged)
    known = {k: v for k, v in merged.items() if k not in unknown}
    try:
        settings = TrainSettings.from_dict(known)
    except SettingsError as err:
        raise SettingsError(f"preset {name!r} ({variant}): {err}") from None
    return Preset(name, variant, settings, unknown)


def check_preset_name(name: str, home: str | os.PathLike | None = None) -> str:
    """A name a new user preset may take: file-safe, not a shipped preset's; SettingsError if not."""
    if not NAME_PATTERN.match(name or ""):
        raise SettingsError(f"preset name {name!r}: use letters, digits, '_', '-' or '.' (at most 64)")
    if (presets_dir() / f"{name}.json").is_file():
        raise SettingsError(f"preset name {name!r} is a shipped preset's; choose another with --as")
    return name


def save_user_preset(name: str, data: dict, home: str | os.PathLike | None = None,
                     overwrite: bool = False) -> Path:
    """Write a user preset atomically; an existing one is replaced only when `overwrite`."""
    check_preset_name(name, home)
    path = user_presets_dir(home) / f"{name}.json"
    if path.exists() and not overwrite:
        raise SettingsError(f"a preset named {name!r} exists ({path}); choose another name or replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, data)
