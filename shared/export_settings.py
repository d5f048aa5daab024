"""Settings of the `merge` and `export` jobs (SM-4, SM-5), declared once: the CLI verbs, the Export
page and docs/SETTINGS.md derive from them. No torch here."""
from __future__ import annotations

from dataclasses import dataclass

from shared.sample_settings import MAX_STRENGTH
from shared.settings import SettingsGroup, setting

EXPORT_FORMATS = ("comfyui", "copy")
KEY_PREFIXES = ("diffusion_model.decoder", "base_model.model", "lycoris")

_ADAPTER_HELP = "Adapter folder: a run's final/, best/ or checkpoints/epoch_N (LoRA, DoRA, LoKr or LoHa)."


@dataclass
class MergeSettings(SettingsGroup):
    """Merge an adapter into the base DiT, written as a checkpoint folder ACE-Step loads."""

    group_name = "merge"

    adapter: str = setting("", _ADAPTER_HELP, section="Merge")
    strength: float = setting(1.0, "Adapter strength baked into the weights (1 = as trained).", section="Merge",
                              minimum=0.0, maximum=MAX_STRENGTH)
    name: str = setting("", "Name of the new checkpoint folder; empty = acestep-v15-merged-<run>-<adapter>.",
                        section="Merge", label="Checkpoint name")
    checkpoints_dir: str = setting("", "Folder the checkpoint folder is created in; empty = beside the base "
                                   "checkpoint (where its VAE and text encoder are, so it is listed and loads).",
                                   section="Merge", importance="advanced", label="Checkpoints folder")
    checkpoint: str = setting("", "Base DiT checkpoint (name as listed by `checkpoints`); empty: the one selected in "
                              "the daemon.", section="Merge", importance="advanced")


@dataclass
class ExportSettings(SettingsGroup):
    """Export an adapter for other loaders: one ComfyUI file, or a plain copy of its files."""

    group_name = "export"

    adapter: str = setting("", _ADAPTER_HELP, section="Export")
    format: str = setting("comfyui", "comfyui: one .safetensors with ComfyUI key names and alpha tensors; "
                          "copy: the adapter's files as they are.", section="Export", choices=EXPORT_FORMATS)
    output: str = setting("", "The file (comfyui) or folder (copy) to write; empty = the run's exports/ folder. "
                          "Existing files are never replaced.", section="Export", label="Output path")
    key_prefix: str = setting("diffusion_model.decoder", "ComfyUI key prefix: diffusion_model.decoder (every "
                              "build), base_model.model (newer builds), lycoris (LoKr/LoHa, as LyCORIS names "
                              "them).", section="Export", importance="advanced", choices=KEY_PREFIXES)
    checkpoint: str = setting("", "The DiT the adapter was trained on, for DoRA (exported as weight differences) "
                              "and LoKr/LoHa key names; empty: the one selected in the daemon.", section="Export",
                              importance="advanced")
