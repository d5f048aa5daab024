"""Registers the `preprocess` job kind. Kept free of torch so the daemon starts at once; the
pipeline (`daemon.preprocess.pipeline`) is imported when a job runs."""
from __future__ import annotations

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.preprocess_settings import PreprocessSettings


@job_kind("preprocess", PreprocessSettings, "Audio and labels to training tensors (safetensors + manifest).")
def run_preprocess_job(ctx: JobContext, settings: PreprocessSettings) -> dict:
    """Encode a dataset into a tensor folder; the result lists written, skipped and failed files."""
    from daemon.preprocess.pipeline import run_preprocess

    return run_preprocess(ctx, settings)
