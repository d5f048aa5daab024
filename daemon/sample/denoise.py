"""The sampling loop of ACESTEP_INTERFACE.md section 6: seeded noise, Euler steps on the schedule,
classifier-free guidance through `null_condition_emb` for base/SFT models.

    noise = initial_noise(seed, frames)             # drawn on the CPU: the same on every device
    x0 = denoise(decoder, condition, noise, timesteps_for(is_turbo), null_condition_emb, guidance)

Each step: v = decoder(x, t, r=t)[0]; x = x - v * (t - t_next). The schedules end in 0, so the last
step gives x0. With guidance (base/SFT) the conditional and the unconditional rows run as one batch
and v = v_uncond + guidance * (v_cond - v_uncond) (plain CFG; ACE-Step itself uses APG).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from daemon.preprocess.encode import LATENT_CHANNELS, module_device, module_dtype
from daemon.sample.conditions import Condition


def initial_noise(seed: int, frames: int) -> torch.Tensor:
    """[1, frames, 64] float32 standard normal noise from a CPU generator seeded with `seed`."""
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(1, frames, LATENT_CHANNELS, generator=generator, dtype=torch.float32)


def _autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Half-precision models with float32 adapter weights (training) run under autocast, as in training."""
    if dtype == torch.float32 or device.type not in ("cuda", "cpu", "xpu", "mps"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def denoise(decoder: torch.nn.Module, condition: Condition, noise: torch.Tensor, timesteps: list[float],
            null_condition_emb: torch.Tensor | None = None, guidance: float = 1.0,
            on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Clean latents [1, T, 64] (float32, CPU) from `noise` along `timesteps` (ending in 0)."""
    device, dtype = module_device(decoder), module_dtype(decoder)
    hidden = condition.encoder_hidden_states.to(device, dtype)
    mask = condition.encoder_attention_mask.to(device)
    context = condition.context_latents.to(device, dtype)
    guided = null_condition_emb is not None and guidance != 1.0
    if guided:
        null = null_condition_emb.to(device, dtype).expand_as(hidden)
        hidden, mask, context = torch.cat([hidden, null]), torch.cat([mask, mask]), torch.cat([context, context])
    rows = hidden.shape[0]
    attention = torch.ones(rows, noise.shape[1], device=device, dtype=dtype)
    x = noise.to(device, torch.float32)
    steps = len(timesteps) - 1
    for index, (t, t_next) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        x_in = x.to(dtype).expand(rows, -1, -1)
        tt = torch.full((rows,), t, device=device, dtype=dtype)
        with _autocast(device, dtype):
            velocity = decoder(hidden_states=x_in, timestep=tt, timestep_r=tt, attention_mask=attention,
                               encoder_hidden_states=hidden, encoder_attention_mask=mask,
                               context_latents=context)[0].float()
        if guided:
            conditional, unconditional = velocity.chunk(2)
            velocity = unconditional + guidance * (conditional - unconditional)
        x = x - velocity * (t - t_next)
        if on_step is not None:
            on_step(index + 1, steps)
    return x.cpu()
