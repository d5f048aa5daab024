"""Registers the `pipeline` and `dataset_scan` job kinds. Free of torch so the daemon starts at once."""
from __future__ import annotations

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.pipeline_settings import DatasetScanSettings, PipelineSettings


@job_kind("pipeline", PipelineSettings, "A folder of songs to a trained, exported adapter with samples: scan, label, "
          "preprocess, train, export and samples, each a job of its own.")
def run_pipeline_job(ctx: JobContext, settings: PipelineSettings) -> dict:
    """Run the stages not done yet; the result names the adapter, the ComfyUI file and the samples."""
    from daemon.pipeline.run import run_pipeline

    return run_pipeline(ctx, settings)


@job_kind("dataset_scan", DatasetScanSettings, "Scan a folder of songs into its dataset.json, keeping its labels.")
def run_scan_job(ctx: JobContext, settings: DatasetScanSettings) -> dict:
    """Scan and save; the result counts the songs and lists the files that could not be read."""
    from daemon.pipeline.scan import run_scan

    return run_scan(ctx, settings)
