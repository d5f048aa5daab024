"""Registers the `generate` job kind. Free of torch so the daemon starts at once; the sampler
(`daemon.sample.generate`) is imported when a job runs."""
from __future__ import annotations

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.sample_settings import GenerateSettings


@job_kind("generate", GenerateSettings, "Generate clips from a checkpoint with an adapter at chosen strengths.")
def run_generate_job(ctx: JobContext, settings: GenerateSettings) -> dict:
    """Render one clip per strength; the result lists the files (they also appear in the run's samples)."""
    from daemon.sample.generate import run_generate

    return run_generate(ctx, settings)
