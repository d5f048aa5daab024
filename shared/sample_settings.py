"""What a clip is made from, declared once: the `generate` job's settings, and (through
`clip_setting`) the same declarations reused by the samples-during-training settings of the
`train` job, so a prompt, a seed or a strength means one thing everywhere.

No torch here: the sampler in daemon/sample/ reads these values.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from shared.errors import SettingsError
from shared.settings import SettingsGroup, setting

AUDIO_FORMATS = ("flac", "wav")
MAX_STRENGTH = 4.0


@dataclass
class ClipSettings(SettingsGroup):
    """One clip: its conditions (as preprocessing builds them) and how it is sampled."""

    group_name = "clip"

    prompt: str = setting("", "Caption of the music (include the trigger word to hear the adapter).",
                          section="Prompt")
    lyrics: str = setting("", "Lyrics; empty for an instrumental.", section="Prompt")
    bpm: int | None = setting(None, "Tempo in beats per minute; empty for N/A.", section="Prompt",
                              minimum=30, maximum=300, label="BPM")
    key: str = setting("", "Key and scale, e.g. 'C major' or 'F# minor'; empty for N/A.", section="Prompt")
    timesignature: str = setting("", "Time signature (beats per bar, e.g. 4); empty for N/A.",
                                 section="Prompt", label="Time signature")
    language: str = setting("en", "Language code of the lyrics (en, de, ja...).", section="Prompt",
                            importance="advanced")
    seconds: float = setting(20.0, "Length of the clip in seconds (at least 5.12 s: 128 latent frames).",
                             section="Sampling", minimum=1.0, maximum=600.0, label="Duration (seconds)")
    seed: int = setting(1, "Seed of the initial noise: the same seed gives the same clip on any device.",
                        section="Sampling", minimum=0)
    steps: int = setting(0, "Sampling steps; 0 = the model's default (8 for turbo, 30 for base/SFT).",
                         section="Sampling", importance="advanced", minimum=0, maximum=200)
    guidance: float = setting(7.0, "Classifier-free guidance scale (base/SFT models; turbo ignores it).",
                              section="Sampling", importance="advanced", minimum=1.0, maximum=30.0)
    shift: float | None = setting(None, "Timestep shift; empty = the model's default (3 for turbo, which "
                                  "only has 1, 2 and 3; 1 for base/SFT).", section="Sampling",
                                  importance="advanced", minimum=0.1, maximum=10.0)
    strengths: list[float] = setting([1.0], "Adapter strengths, one clip each: 0 is the base model, 1 the "
                                     "trained strength, above 1 exaggerates.", section="Sampling",
                                     label="Adapter strengths")
    format: str = setting("flac", "Audio file format (48 kHz stereo).", section="Sampling",
                          importance="advanced", choices=AUDIO_FORMATS, label="Audio format")

    def validate(self) -> None:
        check_strengths(self.strengths, f"{self._owner()}.strengths")


@dataclass
class GenerateSettings(ClipSettings):
    """The `generate` job: a clip from a checkpoint with an adapter at one or more strengths."""

    group_name = "generate"

    adapter: str = setting("", "Adapter folder: a run's final/, best/ or checkpoints/epoch_N (LoRA or LoKr); "
                           "empty for the base model alone.", section="Model")
    checkpoint: str = setting("", "DiT checkpoint (name as listed by `checkpoints`); empty: the one selected in "
                              "the daemon.", section="Model", importance="advanced")


def check_strengths(strengths: list[float], where: str) -> None:
    """Strengths are never clamped (trap: 0.5, 1.0 and 1.5 all played as 1.0), only bounded."""
    if not strengths:
        raise SettingsError(f"{where}: give at least one strength (e.g. 1.0)")
    for value in strengths:
        if not 0.0 <= value <= MAX_STRENGTH:
            raise SettingsError(f"{where}: {value:g} is outside 0 .. {MAX_STRENGTH:g}")


def clip_setting(name: str, **changes: Any) -> Any:
    """A fresh dataclass field with ClipSettings' declaration of `name` (help, bounds, choices), for a
    group that holds the same setting under another name; `changes` override its metadata or default."""
    field = next(f for f in dataclasses.fields(ClipSettings) if f.name == name)
    meta = {**field.metadata, **{k: v for k, v in changes.items() if k != "default"}}
    default = changes.get("default", field.default if field.default is not dataclasses.MISSING
                          else field.default_factory())
    return setting(copy.deepcopy(default), meta["help"], section=meta["section"], importance=meta["importance"],
                   choices=meta["choices"], minimum=meta["minimum"], maximum=meta["maximum"], label=meta["label"])
