"""The timesteps a clip is sampled on (ACESTEP_INTERFACE.md section 6).

- Turbo checkpoints: 8 steps on the official table for shift 1, 2 or 3 (they were distilled on
  exactly these values; other shifts do not exist for them).
- Base / SFT checkpoints: `steps` values of linspace(1, 0) warped by the shift,
  t' = shift * t / (1 + (shift - 1) * t).

Both come back ending in 0.0, so one Euler loop serves both: the step from the last turbo value
to 0 is the official "x0 = x - v * t_last".
"""
from __future__ import annotations

from daemon.train.timesteps import TURBO_SCHEDULE
from shared.errors import SettingsError

TURBO_STEPS = 8
# The official tables (fix_nfe 8), exactly as ACE-Step 1.5's turbo model lists them.
TURBO_SCHEDULES: dict[float, tuple[float, ...]] = {
    1.0: (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125),
    2.0: (1.0, 0.9333333333333333, 0.8571428571428571, 0.7692307692307693, 0.6666666666666666,
          0.5454545454545454, 0.4, 0.2222222222222222),
    3.0: TURBO_SCHEDULE,  # the one training's discrete_turbo mode draws from
}
TURBO_DEFAULT_SHIFT = 3.0
BASE_DEFAULT_STEPS = 30
BASE_DEFAULT_SHIFT = 1.0


def warp(t: float, shift: float) -> float:
    """The shift warp of a timestep: shift * t / (1 + (shift - 1) * t)."""
    return shift * t / (1.0 + (shift - 1.0) * t)


def turbo_timesteps(shift: float | None = None, steps: int = 0) -> list[float]:
    """The turbo table for shift 1, 2 or 3, with the final 0.0."""
    shift = TURBO_DEFAULT_SHIFT if shift is None else float(shift)
    if shift not in TURBO_SCHEDULES:
        raise SettingsError(f"shift: turbo models sample on shift 1, 2 or 3 only, got {shift:g}")
    if steps not in (0, TURBO_STEPS):
        raise SettingsError(f"steps: turbo models sample in {TURBO_STEPS} steps (0 = default), got {steps}")
    return [*TURBO_SCHEDULES[shift], 0.0]


def base_timesteps(steps: int = 0, shift: float | None = None) -> list[float]:
    """linspace(1, 0, steps + 1) warped by the shift (base and SFT checkpoints)."""
    steps = steps or BASE_DEFAULT_STEPS
    shift = BASE_DEFAULT_SHIFT if shift is None else float(shift)
    if steps < 1:
        raise SettingsError(f"steps: at least 1 step is needed, got {steps}")
    if shift <= 0:
        raise SettingsError(f"shift: must be above 0, got {shift:g}")
    return [warp(1.0 - i / steps, shift) for i in range(steps)] + [0.0]


def effective_shift(is_turbo: bool, shift: float | None) -> float:
    """The shift a schedule uses: as set, else the kind's default."""
    if shift is not None:
        return float(shift)
    return TURBO_DEFAULT_SHIFT if is_turbo else BASE_DEFAULT_SHIFT


def timesteps_for(is_turbo: bool, steps: int = 0, shift: float | None = None) -> list[float]:
    """The schedule for a checkpoint kind, `steps` and `shift` (0 / None: the kind's defaults)."""
    return turbo_timesteps(shift, steps) if is_turbo else base_timesteps(steps, shift)
