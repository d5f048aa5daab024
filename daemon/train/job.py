"""Registers the `train` job kind. Free of torch so the daemon starts at once; the engine
(`daemon.train.run`) is imported when a job runs."""
from __future__ import annotations

from pathlib import Path

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.train_settings import TrainSettings


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run: where a run the daemon's death interrupted resumes."""
    from daemon.train.policies import list_checkpoints

    found = list_checkpoints(run_dir / "checkpoints")
    return found[-1] if found else None


@job_kind("train", TrainSettings, "Train a LoRA / DoRA / LoKr / LoHa adapter on the DiT from a tensor folder.",
          actions=("save_now", "sample_now"), resume_point=last_checkpoint)
def run_train_job(ctx: JobContext, settings: TrainSettings) -> dict:
    """Train; a stop request (or the daemon's SIGTERM / Ctrl-C) saves a resumable checkpoint first."""
    from daemon.train.run import run_training

    return run_training(ctx, settings)
