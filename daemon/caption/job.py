"""Registers the `caption` job kind. Free of torch so the daemon starts at once; the batch
(`daemon.caption.batch`) is imported when a job runs."""
from __future__ import annotations

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.caption_settings import CaptionSettings


@job_kind("caption", CaptionSettings, "Caption a folder or a dataset: captions, key, tempo, genre, lyrics.")
def run_caption_job(ctx: JobContext, settings: CaptionSettings) -> dict:
    """Caption every file; the result counts what was done and names what failed."""
    from daemon.caption.batch import run_caption

    return run_caption(ctx, settings)
