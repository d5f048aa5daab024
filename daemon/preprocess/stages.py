"""One sample's tensors in two stages, shared by the single-pass and the two-pass runs.

- `first_stage`: VAE (tiled) + text encoder + lyric embedding, the pass-1 models.
- `second_stage`: condition encoder + context latents, giving the five training tensors.
"""
from __future__ import annotations

import torch

from daemon.preprocess.encode import (
    Tiling,
    condition,
    context_latents,
    embed_lyrics,
    encode_text,
    seeded_generator,
    vae_encode,
)
from daemon.preprocess.run import Prepared
from shared.preprocess_settings import PreprocessSettings


def first_stage(prepared: Prepared, vae: torch.nn.Module, text_model: torch.nn.Module, tokenizer,
                tiling: Tiling, settings: PreprocessSettings) -> dict[str, torch.Tensor]:
    """Target latents, text hidden states and lyric embeddings (with masks); fills frames/tokens metadata."""
    latents = vae_encode(vae, prepared.audio, tiling, seeded_generator(prepared.item.key))
    text_hidden, text_mask = encode_text(text_model, tokenizer, prepared.text_prompt, settings.max_text_tokens)
    lyric_hidden, lyric_mask = embed_lyrics(text_model, tokenizer, prepared.lyrics_prompt,
                                            settings.max_lyric_tokens)
    prepared.metadata.update(frames=int(latents.shape[0]), text_tokens=int(text_mask.sum()),
                             lyric_tokens=int(lyric_mask.sum()))
    return {"target_latents": latents, "text_hidden": text_hidden, "text_mask": text_mask,
            "lyric_hidden": lyric_hidden, "lyric_mask": lyric_mask}


def second_stage(half: dict[str, torch.Tensor], encoder: torch.nn.Module,
                 silence: torch.Tensor) -> dict[str, torch.Tensor]:
    """The five training tensors (ACESTEP_INTERFACE.md section 4 step 7) from a first-stage result."""
    hidden, mask = condition(encoder, half["text_hidden"], half["text_mask"], half["lyric_hidden"], half["lyric_mask"])
    frames = half["target_latents"].shape[0]
    return {
        "target_latents": half["target_latents"], "attention_mask": torch.ones(frames),
        "encoder_hidden_states": hidden, "encoder_attention_mask": mask,
        "context_latents": context_latents(silence, frames),
    }
