"""A preprocess job in a real daemon killed with SIGKILL midway, then resubmitted to a new daemon:
it finishes with every file exactly once and no partial file ever visible (PP-5)."""
from __future__ import annotations

import time

from daemon.preprocess.tensor_folder import open_tensor_folder, read_sample_header
from shared.dataset import Sample
from tests.preprocess.helpers import make_dataset, write_tone

CLIPS = 5


def wait_for_progress(client, job_id: str, done: int, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if (job.get("progress") or {}).get("written", 0) >= done or job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {done} files in {timeout} s")


def test_killed_job_resumes_without_duplicates_or_partial_files(daemon_proc, demo_root, tmp_path):
    folder = tmp_path / "songs"
    names = [f"clip{i}.wav" for i in range(CLIPS)]
    for i, name in enumerate(names):
        write_tone(folder / name, 1.0, freq=150 + 50 * i)
    dataset = make_dataset(folder, [Sample(audio=n, caption=f"tone {i}") for i, n in enumerate(names)])
    out = tmp_path / "tensors"
    settings = {"dataset": str(dataset), "output_dir": str(out), "checkpoint": "acestep-v15-demo"}

    job_id = daemon_proc.client.submit("preprocess", settings)
    job = wait_for_progress(daemon_proc.client, job_id, 2)
    assert job["state"] == "running", job
    daemon_proc.kill()  # SIGKILL: no chance to clean up

    visible = sorted(p for p in out.glob("*.safetensors"))
    assert 2 <= len(visible) < CLIPS
    for path in visible:  # whatever a reader can see is complete
        read_sample_header(path)

    client = daemon_proc.start()
    job_id = client.submit("preprocess", settings)
    job = client.wait(job_id, timeout=120)
    assert job["state"] == "done", job.get("error")
    assert job["result"]["skipped_existing"] >= 2
    assert job["result"]["written"] + job["result"]["skipped_existing"] == CLIPS and not job["result"]["failed"]

    produced = [p.name for p in out.glob("*.safetensors")]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *produced])  # no temporary left
    tensors = open_tensor_folder(out)
    assert len(tensors) == CLIPS and len(set(tensors.names())) == CLIPS
    assert sorted(tensors.load(i)["metadata"]["filename"] for i in range(CLIPS)) == sorted(names)
    tensors.verify()
