"""The built-in `selftest` job: small CPU work in steps with progress, to check the whole path."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.errors import JobError
from shared.settings import SettingsGroup, setting


@dataclass
class SelftestSettings(SettingsGroup):
    group_name = "selftest"

    steps: int = setting(20, "How many steps to run.", section="Selftest", minimum=1, maximum=100_000)
    step_seconds: float = setting(0.05, "Seconds each step takes.", section="Selftest",
                                  minimum=0.0, maximum=60.0)
    fail_at: int | None = setting(None, "Raise an error at this step (to test failure handling).",
                                  section="Selftest", importance="expert", minimum=0)
    matrix_size: int = setting(64, "Size of the matrix multiplied at each step.", section="Selftest",
                               importance="advanced", minimum=1, maximum=4096)


@job_kind("selftest", SelftestSettings, "Small CPU work in steps, reporting progress and metrics.")
def run_selftest(ctx: JobContext, settings: SelftestSettings) -> dict:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((settings.matrix_size, settings.matrix_size)) / settings.matrix_size
    value = np.eye(settings.matrix_size)
    for step in range(1, settings.steps + 1):
        if ctx.stop_requested:
            ctx.write_json("selftest_state.json", {"completed_steps": step - 1})
            ctx.log(f"stopped at step {step - 1}; state saved")
            return {"completed_steps": step - 1, "stopped": True}
        if settings.fail_at is not None and step == settings.fail_at:
            raise JobError(f"selftest failed on purpose at step {step} (fail_at={settings.fail_at})")
        deadline = time.monotonic() + settings.step_seconds
        value = value @ matrix + np.eye(settings.matrix_size)
        time.sleep(max(0.0, deadline - time.monotonic()))
        ctx.progress(step, settings.steps, f"step {step}/{settings.steps}")
        ctx.metric(step=step, value=float(np.abs(value).mean()))
    ctx.write_json("selftest_state.json", {"completed_steps": settings.steps})
    return {"completed_steps": settings.steps}
