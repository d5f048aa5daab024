"""The training math on its own: timestep distributions, CFG dropout, min-SNR, masked losses, schedules."""
from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from daemon.train.losses import min_snr_weight, per_sample_loss, weighted_loss
from daemon.train.optim import build_optimizer, lr_lambda, restart_cycle_lengths, restart_progress
from daemon.train.timesteps import TURBO_SCHEDULE, TimestepSampler, apply_cfg_dropout, cfg_dropout_mask
from shared.errors import TrainingError
from shared.train_settings import TIMESTEP_MODES, TrainSettings

MU, SIGMA = -0.4, 1.0
TURBO_SCHEDULE_FLOAT32 = torch.tensor(TURBO_SCHEDULE)


def _logit(x):
    return math.log(x / (1 - x))


def test_model_mode_matches_its_exact_distribution():
    """max of two sigmoid(N(mu, sigma)) draws: P(t <= x) = Phi((logit x - mu) / sigma)^2."""
    t = TimestepSampler("model", MU, SIGMA).sample(20_000, generator=torch.Generator().manual_seed(0))
    cdf = lambda x: stats.norm.cdf((_logit_array(x) - MU) / SIGMA) ** 2  # noqa: E731
    result = stats.kstest(t.double().numpy(), cdf)
    assert result.pvalue > 0.01, result
    # And it is not the single-draw distribution.
    single = lambda x: stats.norm.cdf((_logit_array(x) - MU) / SIGMA)  # noqa: E731
    assert stats.kstest(t.double().numpy(), single).pvalue < 1e-6


def _logit_array(x):
    import numpy as np

    x = np.clip(x, 1e-12, 1 - 1e-12)
    return np.log(x / (1 - x))


def test_logit_normal_mode_is_one_draw():
    t = TimestepSampler("logit_normal", MU, SIGMA).sample(20_000, generator=torch.Generator().manual_seed(1))
    cdf = lambda x: stats.norm.cdf((_logit_array(x) - MU) / SIGMA)  # noqa: E731
    assert stats.kstest(t.double().numpy(), cdf).pvalue > 0.01


def test_discrete_turbo_and_uniform_modes():
    gen = torch.Generator().manual_seed(2)
    turbo = TimestepSampler("discrete_turbo").sample(8_000, generator=gen)
    values, counts = torch.unique(turbo, return_counts=True)
    assert sorted(values.tolist()) == sorted(TURBO_SCHEDULE_FLOAT32.tolist())
    assert counts.min() > 850 and counts.max() < 1150  # uniform over the 8 values
    uniform = TimestepSampler("uniform").sample(20_000, generator=gen)
    assert stats.kstest(uniform.double().numpy(), "uniform").pvalue > 0.01
    assert float(uniform.min()) > 0  # never t = 0


def test_discrete_turbo_draws_the_official_schedule_exactly():
    # ACE-Step's turbo schedule as its code writes it (shift 3, 8 steps), not rounded.
    official = torch.tensor([1.0, 0.9545454545454546, 0.9, 0.8333333333333334, 0.75, 0.6428571428571429, 0.5, 0.3])
    drawn = TimestepSampler("discrete_turbo").sample(2_000, generator=torch.Generator().manual_seed(4))
    assert torch.equal(torch.unique(drawn).sort(descending=True).values, official)


def test_every_declared_timestep_mode_samples_and_others_are_refused():
    for mode in TIMESTEP_MODES:
        t = TimestepSampler(mode).sample(16, generator=torch.Generator().manual_seed(5))
        assert t.dtype == torch.float32 and bool((t > 0).all() and (t <= 1).all()), mode
    with pytest.raises(ValueError, match="logit_normal"):
        TimestepSampler("cosine")


def test_cfg_dropout_replaces_exactly_the_chosen_rows_with_the_null_embedding():
    gen = torch.Generator().manual_seed(3)
    n, p = 4000, 0.15
    drop = cfg_dropout_mask(n, p, generator=gen)
    rate_sd = math.sqrt(p * (1 - p) / n)
    assert abs(drop.float().mean().item() - p) < 4 * rate_sd
    states = torch.randn(n, 5, 8, generator=gen) + 3.0
    null = torch.randn(1, 1, 8, generator=gen)
    out = apply_cfg_dropout(states, drop, null)
    assert torch.equal(out[~drop], states[~drop])
    assert torch.equal(out[drop], null.expand(int(drop.sum()), 5, 8))
    assert not bool((out[drop] == 0).all())  # the learned embedding, never zeros
    assert not cfg_dropout_mask(10, 0.0).any()


def test_min_snr_weights_follow_the_formula():
    t = torch.tensor([0.05, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0])
    gamma = 5.0
    for ti, w in zip(t.tolist(), min_snr_weight(t, gamma).tolist()):
        snr = ((1 - ti) / ti) ** 2
        expected = 1.0 if snr == 0 else min(snr, gamma) / snr
        assert w == pytest.approx(expected, rel=1e-5)
    losses = torch.ones(len(t))
    assert torch.equal(weighted_loss(losses, t, "none", gamma), losses)
    assert torch.allclose(weighted_loss(losses, t, "min_snr", gamma), min_snr_weight(t, gamma))


def test_masked_loss_ignores_padded_frames():
    gen = torch.Generator().manual_seed(4)
    pred, target = torch.randn(1, 10, 64, generator=gen), torch.randn(1, 10, 64, generator=gen)
    alone = per_sample_loss(pred, target, torch.ones(1, 10))
    padded_pred = torch.cat([pred, 100 * torch.ones(1, 6, 64)], dim=1)
    padded_target = torch.cat([target, torch.zeros(1, 6, 64)], dim=1)
    mask = torch.cat([torch.ones(1, 10), torch.zeros(1, 6)], dim=1)
    assert torch.allclose(per_sample_loss(padded_pred, padded_target, mask), alone)
    assert per_sample_loss(pred.half(), target.half(), torch.ones(1, 10)).dtype == torch.float32


def test_schedulers_warm_up_and_decay():
    total, warmup = 100, 10
    for name in ("constant_with_warmup", "linear", "cosine", "cosine_with_restarts"):
        f = lr_lambda(name, warmup, total)
        assert f(0) < f(5) < f(9) <= 1.0, name
    assert [lr_lambda("constant", warmup, total)(s) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    linear = lr_lambda("linear", 0, total)
    assert linear(0) == 1.0 and linear(50) == pytest.approx(0.5) and linear(100) == 0.0
    cosine = lr_lambda("cosine", 0, total)
    assert cosine(0) == pytest.approx(1.0) and cosine(100) == pytest.approx(0.01)  # floor 1% of LR
    assert min(cosine(s) for s in range(total + 1)) >= 0.01 - 1e-12


def test_cosine_restart_cycles_start_at_a_quarter_and_double():
    steps = 100
    assert restart_cycle_lengths(steps) == [25, 50, 100]
    f = lr_lambda("cosine_with_restarts", 0, steps)
    restarts = [s for s in range(1, steps) if f(s) > f(s - 1) + 1e-9]
    assert restarts == [25, 75]
    assert f(0) == f(25) == f(75) == pytest.approx(1.0)
    assert min(f(s) for s in range(steps)) >= 0.01
    assert restart_progress(24, steps) == pytest.approx(24 / 25)


def test_optimizers_build_or_fail_clearly():
    params = [torch.nn.Parameter(torch.zeros(3))]
    cpu = torch.device("cpu")
    assert type(build_optimizer(TrainSettings(), params, cpu)).__name__ == "AdamW"
    assert type(build_optimizer(TrainSettings(optimizer="adafactor"), params, cpu)).__name__ == "Adafactor"
    with pytest.raises(TrainingError, match="CUDA"):
        build_optimizer(TrainSettings(optimizer="adamw8bit"), params, cpu)
    try:
        import prodigyopt  # noqa: F401
    except ImportError:
        with pytest.raises(TrainingError, match="prodigyopt"):
            build_optimizer(TrainSettings(optimizer="prodigy", learning_rate=1.0), params, cpu)
