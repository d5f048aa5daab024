"""A clip's conditions, built by the code preprocessing uses (one path, not a copy).

The prompt texts come from `shared.prompt` (`text_prompt`, `lyrics_prompt`), the tensors from
`daemon.preprocess.encode` (`encode_text`, `embed_lyrics`, `condition`, `context_latents`) with the
models handed out by `PreprocessModels`: what a clip is conditioned on is exactly what a training
sample with the same labels was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from daemon.preprocess.encode import FRAMES_PER_SECOND, condition, context_latents, embed_lyrics, encode_text
from daemon.preprocess.models import PreprocessModels
from shared.preprocess_settings import PreprocessSettings
from shared.prompt import lyrics_prompt, text_prompt
from shared.sample_settings import ClipSettings

MIN_FRAMES = 128  # the shortest clip the sampler makes (5.12 s), as ACE-Step's own sampler


@dataclass(frozen=True)
class ClipPrompt:
    """What one clip is about: caption (with the trigger word where wanted), lyrics and metas."""

    caption: str
    lyrics: str = ""
    bpm: int | None = None
    key: str = ""
    timesignature: str = ""
    language: str = "en"
    seconds: float = 20.0

    @property
    def frames(self) -> int:
        return max(MIN_FRAMES, round(self.seconds * FRAMES_PER_SECOND))

    @property
    def is_instrumental(self) -> bool:
        return not self.lyrics.strip() or self.lyrics.strip().lower() == "[instrumental]"

    @classmethod
    def from_settings(cls, settings: ClipSettings) -> "ClipPrompt":
        return cls(settings.prompt, settings.lyrics, settings.bpm, settings.key, settings.timesignature,
                   settings.language, settings.seconds)

    def to_dict(self) -> dict:
        return {"prompt": self.caption, "lyrics": self.lyrics, "bpm": self.bpm, "key": self.key,
                "timesignature": self.timesignature, "language": self.language,
                "seconds": self.frames / FRAMES_PER_SECOND}


@dataclass
class Condition:
    """The decoder's conditioning for one clip, batch of one, float32 on the CPU."""

    encoder_hidden_states: torch.Tensor  # [1, L, hidden]
    encoder_attention_mask: torch.Tensor  # [1, L] bool
    context_latents: torch.Tensor  # [1, T, 128]

    @property
    def frames(self) -> int:
        return int(self.context_latents.shape[1])


def build_condition(models: PreprocessModels, prompt: ClipPrompt) -> Condition:
    """Text encoder, lyric embedding, condition encoder and context latents, as preprocessing runs
    them; each model is on the device only for its step when offloading is on."""
    limits = PreprocessSettings()
    frames = prompt.frames
    text = text_prompt(prompt.caption, prompt.bpm, prompt.timesignature or None, prompt.key or None,
                       frames / FRAMES_PER_SECOND)
    lyrics = lyrics_prompt(prompt.language, prompt.lyrics, prompt.is_instrumental)
    with models.text_encoder() as (text_model, tokenizer):
        text_hidden, text_mask = encode_text(text_model, tokenizer, text, limits.max_text_tokens)
        lyric_hidden, lyric_mask = embed_lyrics(text_model, tokenizer, lyrics, limits.max_lyric_tokens)
    with models.condition_encoder() as encoder:
        hidden, mask = condition(encoder, text_hidden, text_mask, lyric_hidden, lyric_mask)
    context = context_latents(models.silence_latent(), frames)
    return Condition(hidden.unsqueeze(0), mask.unsqueeze(0), context.unsqueeze(0))
