"""A training run killed with its daemon: the next daemon shows it interrupted, resumable from its
last checkpoint, and the resume from there runs."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from .conftest import write_tensor_folder
from .test_job import JOB_SETTINGS


@pytest.fixture
def tensors(tmp_path, samples, dit_dir) -> Path:
    from daemon.models.checkpoint_files import model_fingerprint

    return write_tensor_folder(tmp_path / "tensors", samples, fingerprint=model_fingerprint(dit_dir),
                               model_name="acestep-v15-demo")


def wait_for_checkpoint(client, job_id: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["type"] == "checkpoint_saved" and e["job_id"] == job_id for e in client.events(limit=5000)):
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} saved no checkpoint within {timeout} s")


@pytest.mark.slow
def test_a_killed_training_is_interrupted_and_resumable_from_its_last_checkpoint(daemon_proc, demo_root,
                                                                                 dit_dir, tensors):
    client = daemon_proc.client
    settings = {**JOB_SETTINGS, "epochs": 500, "save_every_epochs": 1, "keep_last": 2,
                "tensors_dir": str(tensors), "checkpoint": str(dit_dir)}
    job_id = client.submit("train", settings)
    wait_for_checkpoint(client, job_id)
    run = Path(client.job(job_id)["run_dir"])
    daemon_proc.kill()  # SIGKILL: no save, no job.json update
    half_written = run / "checkpoints" / ".tmp-epoch_99-12345"
    half_written.mkdir()

    client = daemon_proc.start()
    job = client.job(job_id)
    assert job["state"] == "interrupted"
    saved = sorted((run / "checkpoints").glob("epoch_*"), key=lambda p: int(p.name.split("_")[1]))
    assert job["resume_from"] == str(saved[-1])
    assert f"resume it from {saved[-1]}" in job["error"]["evalue"]
    assert not half_written.exists()

    resumed = client.submit("train", {**settings, "epochs": int(saved[-1].name.split("_")[1]) + 1,
                                      "resume_from": job["resume_from"]})
    assert client.wait(resumed, timeout=180)["state"] == "done"
