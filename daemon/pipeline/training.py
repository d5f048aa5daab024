"""The training settings a pipeline picks, and why, in sentences its log repeats.

    settings, notes = training_settings(pipeline_settings, gpu, samples=8, home=home)

The preset: the one named, or `auto`: the largest `vram_*` preset the GPU holds, the quick test
without one (`shared.preset_advice.choose_preset`). The epochs: the ones set, else the advice for
the number of songs on a GPU; on the CPU the preset's own (the advice is hundreds of epochs, hours
on a CPU, where the quick test is a run of minutes). Then the pipeline's sample settings and,
last, the user's own `train_overrides`.
"""
from __future__ import annotations

from pathlib import Path

from shared.pipeline_settings import AUTO_PRESET, PipelineSettings
from shared.preset_advice import advise_epochs, choose_preset
from shared.presets import list_presets, load_preset
from shared.train_settings import TrainSettings

TRAINING_SAMPLE_STRENGTHS = [1.0]  # one clip per prompt and round: the final samples add strength 0


def no_gpu(reason: str) -> dict:
    """A `gpu` reply that says there is none to train on (the daemon computes elsewhere), its reason
    worded as daemon.models.gpu words it: "no GPU (...)"."""
    return {"available": False, "reason": f"no GPU ({reason})"}


def training_settings(settings: PipelineSettings, gpu: dict, samples: int,
                      home: Path | None) -> tuple[TrainSettings, list[str]]:
    """The train job's settings (without the tensors folder) and the notes that explain them."""
    notes: list[str] = []
    name = settings.preset
    if name == AUTO_PRESET:
        choice = choose_preset(gpu, list_presets(home=home))
        notes.append(choice.describe())
        name = choice.name
    preset = load_preset(name, settings.adapter_type, home=home)
    notes += [f"preset {name!r} has an unknown setting {key!r}; not applied" for key in preset.unknown]
    changes: dict = {"checkpoint": settings.checkpoint, "sample_prompts": settings.sample_prompts,
                     "sample_seconds": settings.sample_seconds, "sample_seed": settings.sample_seed,
                     "sample_strengths": TRAINING_SAMPLE_STRENGTHS}
    advice = advise_epochs(samples)
    if settings.epochs is not None:
        changes["epochs"] = settings.epochs
        notes.append(f"{settings.epochs} epochs, as set")
    elif gpu.get("available") and gpu.get("devices"):
        changes.update(advice.settings())
        notes.append(f"epoch advice applied: {advice.describe()}")
    else:
        notes.append(f"no GPU: the {name} preset's {preset.settings.epochs} epochs are kept (the advice for "
                     f"{samples} song{'s' if samples != 1 else ''}, {advice.epochs} epochs, is for a GPU)")
    train = preset.settings.replace(**changes).with_overrides(settings.train_overrides)
    if settings.train_overrides:
        notes.append(f"your training settings applied last: {', '.join(settings.train_overrides)}")
    return train, notes
