"""Timestep sampling and CFG dropout for flow-matching training (ACESTEP_INTERFACE.md section 5).

All randomness comes from the generator passed in (the loop passes None: torch's global RNG,
whose state a checkpoint saves), so two runs with the same seed draw the same values.
"""
from __future__ import annotations

import torch

from shared.train_settings import TIMESTEP_MODES

# The official turbo schedule (shift 3, 8 steps) exactly as ACE-Step writes it: shift*t / (1 + 2t) on
# t = 1, 7/8, ..., 1/8. Rounded values would train on timesteps the sampler never visits.
TURBO_SCHEDULE = (1.0, 0.9545454545454546, 0.9, 0.8333333333333334, 0.75, 0.6428571428571429, 0.5, 0.3)


class TimestepSampler:
    """Draws t in (0, 1] per sample; r = t for LoRA training."""

    def __init__(self, mode: str, mu: float = -0.4, sigma: float = 1.0) -> None:
        if mode not in TIMESTEP_MODES:
            raise ValueError(f"unknown timestep mode {mode!r} (one of {', '.join(TIMESTEP_MODES)})")
        self.mode, self.mu, self.sigma = mode, float(mu), float(sigma)

    def sample(self, n: int, device: torch.device | str = "cpu",
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n timesteps as float32 on `device`."""
        if self.mode == "model":
            # The model's own training_losses: the larger of two logit-normal draws.
            draws = torch.randn(2, n, generator=generator) * self.sigma + self.mu
            t = torch.sigmoid(draws).max(dim=0).values
        elif self.mode == "logit_normal":
            t = torch.sigmoid(torch.randn(n, generator=generator) * self.sigma + self.mu)
        elif self.mode == "discrete_turbo":
            index = torch.randint(len(TURBO_SCHEDULE), (n,), generator=generator)
            t = torch.tensor(TURBO_SCHEDULE, dtype=torch.float64)[index]
        else:
            t = torch.rand(n, generator=generator)
        # t = 0 would make the target velocity carry no noise and min-SNR divide by zero.
        return t.clamp(1e-4, 1.0).float().to(device)


def cfg_dropout_mask(n: int, probability: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A bool [n] mask of the samples that train unconditionally this step."""
    if probability <= 0:
        return torch.zeros(n, dtype=torch.bool)
    return torch.rand(n, generator=generator) < probability


def apply_cfg_dropout(encoder_hidden_states: torch.Tensor, drop: torch.Tensor,
                      null_condition_emb: torch.Tensor) -> torch.Tensor:
    """Replace the dropped rows' whole condition by the learned null embedding (never zeros)."""
    if not bool(drop.any()):
        return encoder_hidden_states
    null = null_condition_emb.to(encoder_hidden_states).expand_as(encoder_hidden_states)
    keep = drop.to(encoder_hidden_states.device).view(-1, 1, 1)
    return torch.where(keep, null, encoder_hidden_states)
