"""Registers the `preprocess` job kind. Kept free of torch so the daemon starts at once; the
pipeline (`daemon.preprocess.pipeline`) is imported when a job runs."""
from __future__ import annotations

from pathlib import Path

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.errors import SettingsError
from shared.preprocess_settings import PreprocessSettings


def dataset_file_exists(settings: PreprocessSettings) -> None:
    """The dataset file is read on the daemon's machine: refused at submission when it is not there."""
    path = Path(settings.dataset).expanduser()
    if settings.dataset and not path.is_file():
        raise SettingsError(f"Dataset file: {path.absolute()} is not a file on the daemon's machine")


@job_kind("preprocess", PreprocessSettings, "Audio and labels to training tensors (safetensors + manifest).",
          check=dataset_file_exists)
def run_preprocess_job(ctx: JobContext, settings: PreprocessSettings) -> dict:
    """Encode a dataset into a tensor folder; the result lists written, skipped and failed files."""
    from daemon.preprocess.pipeline import run_preprocess

    return run_preprocess(ctx, settings)
