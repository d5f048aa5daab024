"""Training presets: JSON files in `presets/`, each with shared settings and a LoRA and a LoKr variant.

    {"description": "...", "min_vram_gb": 16,
     "settings": {...TrainSettings fields...},
     "variants": {"lora": {...}, "lokr": {...}}}

    list_presets()                        # [PresetInfo(name, description, min_vram_gb, variants)]
    preset = load_preset("recommended", "lokr")
    preset.settings                       # a TrainSettings (defaults + shared + variant)
    preset.unknown                        # keys TrainSettings doesn't know: reported, never applied

No torch here: the CLI and the dashboard read presets too.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import SettingsError
from shared.train_settings import TrainSettings, adapter_family

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"
ENV_PRESETS_DIR = "ACESTEP_STUDIO_PRESETS"


def presets_dir() -> Path:
    return Path(os.environ.get(ENV_PRESETS_DIR) or PRESETS_DIR)


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    min_vram_gb: float | None
    variants: tuple[str, ...]


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
    except (OSError, json.JSONDecodeError) as err:
        raise SettingsError(f"preset {path}: cannot be read as JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("settings", {}), dict):
        raise SettingsError(f"preset {path}: expected an object with 'settings' and 'variants'")
    return data


def list_presets(folder: Path | None = None) -> list[PresetInfo]:
    """Every preset in the folder, by name."""
    folder = folder or presets_dir()
    out = []
    for path in sorted(folder.glob("*.json")):
        data = _read(path)
        out.append(PresetInfo(path.stem, str(data.get("description", "")), data.get("min_vram_gb"),
                              tuple(sorted((data.get("variants") or {}).keys()))))
    return out


def variant_for(adapter_type: str) -> str:
    """LoRA and DoRA use the `lora` variant; LoKr and LoHa the `lokr` one."""
    return "lokr" if adapter_family(adapter_type) == "lycoris" else "lora"


def load_preset(name: str, adapter_type: str = "lora", folder: Path | None = None) -> Preset:
    """The preset's settings for an adapter type; unknown keys are listed in `unknown`, not applied."""
    folder = folder or presets_dir()
    path = folder / f"{name}.json"
    if not path.is_file():
        known = ", ".join(p.name for p in list_presets(folder)) or "none"
        raise SettingsError(f"no preset {name!r} in {folder} (available: {known})")
    data = _read(path)
    variant = variant_for(adapter_type)
    variants = data.get("variants") or {}
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
