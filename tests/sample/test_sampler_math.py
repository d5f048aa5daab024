"""The sampler's math (ACESTEP_INTERFACE.md section 6): the official turbo tables, the shifted base
schedule, seeded noise that does not depend on the global generator, the Euler steps and CFG."""
from __future__ import annotations

import pytest
import torch

from daemon.sample.conditions import Condition
from daemon.sample.denoise import denoise, initial_noise
from daemon.sample.schedules import TURBO_SCHEDULES, base_timesteps, timesteps_for, turbo_timesteps, warp
from shared.errors import SettingsError


def test_turbo_tables_are_the_shift_warp_of_eight_even_steps_and_end_in_zero():
    for shift, table in TURBO_SCHEDULES.items():
        assert len(table) == 8
        assert table == pytest.approx([warp(1 - i / 8, shift) for i in range(8)], abs=1e-15)
    assert turbo_timesteps() == [*TURBO_SCHEDULES[3.0], 0.0]  # shift 3 by default
    with pytest.raises(SettingsError, match="shift 1, 2 or 3"):
        turbo_timesteps(2.5)
    with pytest.raises(SettingsError, match="8 steps"):
        timesteps_for(True, steps=20)


def test_base_schedule_is_linspace_warped_by_shift():
    assert base_timesteps() == pytest.approx([1 - i / 30 for i in range(31)])  # 30 steps, shift 1
    steps = base_timesteps(4, 3.0)
    assert steps == pytest.approx([1.0, 0.9, 0.75, 0.5, 0.0])
    assert timesteps_for(False, 4, 3.0) == steps


def test_initial_noise_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    expected_next = torch.rand(1)
    torch.manual_seed(0)
    a = initial_noise(7, 130)
    assert torch.rand(1) == expected_next
    assert torch.equal(a, initial_noise(7, 130)) and not torch.equal(a, initial_noise(8, 130))
    assert a.shape == (1, 130, 64) and a.dtype == torch.float32


class LinearVelocity(torch.nn.Module):
    """A stand-in decoder: v = x * t + mean of the condition (so the null condition changes it)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, hidden_states, timestep, timestep_r, attention_mask, encoder_hidden_states,
                encoder_attention_mask, context_latents):
        bias = encoder_hidden_states.mean(dim=(1, 2)).view(-1, 1, 1)
        return (hidden_states * timestep.view(-1, 1, 1) * self.weight + bias,)


def test_euler_steps_and_classifier_free_guidance():
    condition = Condition(torch.full((1, 3, 4), 2.0), torch.ones(1, 3, dtype=torch.bool), torch.zeros(1, 5, 128))
    null = torch.zeros(1, 1, 4)
    noise = torch.ones(1, 5, 64)
    # one step from t=1 to 0: x0 = x - v * 1, with v = x * 1 + bias
    plain = denoise(LinearVelocity(), condition, noise, [1.0, 0.0])
    assert torch.allclose(plain, noise - (noise + 2.0))
    # guidance g: v = v_null + g * (v_cond - v_null), v_null's bias 0
    guided = denoise(LinearVelocity(), condition, noise, [1.0, 0.0], null, guidance=3.0)
    assert torch.allclose(guided, noise - (noise + 3.0 * 2.0))
    two_steps = denoise(LinearVelocity(), condition, noise, [1.0, 0.5, 0.0])
    x = noise - (noise * 1.0 + 2.0) * 0.5
    assert torch.allclose(two_steps, x - (x * 0.5 + 2.0) * 0.5)
