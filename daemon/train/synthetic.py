"""Synthetic training samples: the model's own condition encoder on random text and lyric
embeddings, with target latents that have structure to learn. For tests, benchmarks and smoke runs
before a dataset is preprocessed; real training reads a tensor folder.
"""
from __future__ import annotations

from typing import Any

import torch


@torch.no_grad()
def synthetic_samples(model: Any, frames: list[int], seed: int = 0, text_tokens: int = 5,
                      lyric_tokens: int = 6) -> list[dict[str, torch.Tensor]]:
    """One sample per entry of `frames`, in the training-tensor format, on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    width = model.config.text_hidden_dim
    device = next(model.encoder.parameters()).device
    out = []
    for i, length in enumerate(frames):
        lt, ll = text_tokens + i % 3, lyric_tokens + i % 2
        states, mask = model.encoder(
            text_hidden_states=torch.randn(1, lt, width, generator=gen).to(device),
            text_attention_mask=torch.ones(1, lt, device=device),
            lyric_hidden_states=torch.randn(1, ll, width, generator=gen).to(device),
            lyric_attention_mask=torch.ones(1, ll, device=device),
            refer_audio_acoustic_hidden_states_packed=torch.zeros(1, 1, 64, device=device),
            refer_audio_order_mask=torch.zeros(1, dtype=torch.long, device=device),
        )
        pattern = torch.sin(torch.arange(length).float()[:, None] / (3 + i) + torch.arange(64).float()[None] / 7)
        out.append({
            "target_latents": pattern + 0.1 * torch.randn(length, 64, generator=gen),
            "attention_mask": torch.ones(length),
            "encoder_hidden_states": states[0].float().cpu(),
            "encoder_attention_mask": mask[0].bool().cpu(),
            "context_latents": torch.cat([torch.zeros(length, 64), torch.ones(length, 64)], dim=-1),
        })
    return out
