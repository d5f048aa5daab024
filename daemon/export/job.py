"""Registers the `merge` and `export` job kinds. Free of torch so the daemon starts at once; the
work (`daemon.export.run`) is imported when a job runs."""
from __future__ import annotations

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.export_settings import ExportSettings, MergeSettings


@job_kind("merge", MergeSettings, "Merge a LoRA/LoKr adapter into the base DiT as a new checkpoint folder.")
def run_merge_job(ctx: JobContext, settings: MergeSettings) -> dict:
    """Write the merged checkpoint; the result names its folder."""
    from daemon.export.run import run_merge

    return run_merge(ctx, settings)


@job_kind("export", ExportSettings, "Export an adapter for ComfyUI (one file) or as a plain copy of its files.")
def run_export_job(ctx: JobContext, settings: ExportSettings) -> dict:
    """Write the export; the result lists the files."""
    from daemon.export.run import run_export

    return run_export(ctx, settings)
