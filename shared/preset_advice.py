"""Advice the CLI and the Train page give, applied only when the user asks and always said out loud:
the preset that fits the GPU's memory, and the epochs and save interval for a dataset's size.

    choice = choose_preset(client.request("gpu", {}), list_presets())
    choice.name, choice.reason            # "vram_16gb", "NVIDIA RTX 4080 with 16 GiB"
    advice = advise_epochs(8)
    advice.epochs, advice.save_every_epochs, advice.describe()

Pure functions over the daemon's `gpu` reply and a sample count: no torch, no daemon call here.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.errors import SettingsError
from shared.presets import PresetInfo

CPU_PRESET = "quick_test"  # without a GPU: a short run to see the whole workflow
VRAM_PREFIX = "vram_"
# A card sold as "12 GB" may report a little less than 12 GiB; this much below still counts.
VRAM_TOLERANCE_GB = 0.5

# (at most this many samples, epochs, save every N epochs): fewer songs need more passes.
EPOCH_TABLE = (
    (3, 1500, 200),
    (6, 1000, 200),
    (10, 700, 100),
    (20, 500, 100),
    (50, 300, 50),
    (None, 200, 50),
)


@dataclass(frozen=True)
class PresetChoice:
    name: str
    reason: str

    def describe(self) -> str:
        return f"preset {self.name} chosen for this machine ({self.reason})"


def choose_preset(gpu: dict, presets: list[PresetInfo]) -> PresetChoice:
    """The largest `vram_*` preset the first GPU holds (the smallest one below that, said so);
    the quick test without a GPU. `gpu` is the daemon's `gpu` reply."""
    names = {p.name for p in presets}
    if not gpu.get("available") or not gpu.get("devices"):
        if CPU_PRESET not in names:
            raise SettingsError(f"no GPU found and no {CPU_PRESET!r} preset to fall back to")
        return PresetChoice(CPU_PRESET, gpu.get("reason") or "no GPU found")  # the daemon's: "no GPU (...)"
    device = gpu["devices"][0]
    total_gb = float(device.get("memory_total") or 0) / 2**30
    sized = sorted((p for p in presets if p.name.startswith(VRAM_PREFIX) and p.min_vram_gb is not None),
                   key=lambda p: p.min_vram_gb or 0)
    if not sized:
        raise SettingsError(f"no {VRAM_PREFIX}* preset to choose from")
    gpu_text = f"{device.get('name') or 'GPU'} with {total_gb:.0f} GiB"
    fitting = [p for p in sized if (p.min_vram_gb or 0) <= total_gb + VRAM_TOLERANCE_GB]
    if not fitting:
        smallest = sized[0]
        return PresetChoice(smallest.name, f"{gpu_text}, less than the smallest preset's "
                                           f"{smallest.min_vram_gb:g} GB: expect to lower crop_frames")
    return PresetChoice(fitting[-1].name, gpu_text)


@dataclass(frozen=True)
class EpochAdvice:
    samples: int
    epochs: int
    save_every_epochs: int

    def describe(self) -> str:
        return (f"{self.epochs} epochs, a checkpoint every {self.save_every_epochs} "
                f"(advised for {self.samples} sample{'s' if self.samples != 1 else ''})")

    def settings(self) -> dict:
        return {"epochs": self.epochs, "save_every_epochs": self.save_every_epochs}


def advise_epochs(samples: int) -> EpochAdvice:
    """Epochs and save interval for a dataset of `samples` songs (see EPOCH_TABLE)."""
    if samples < 1:
        raise SettingsError("epoch advice needs at least one training sample; the folder has none")
    for most, epochs, every in EPOCH_TABLE:
        if most is None or samples <= most:
            return EpochAdvice(samples, epochs, every)
    raise AssertionError("EPOCH_TABLE ends with an open row")
