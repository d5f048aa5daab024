"""Sample now from the Monitor page, through a real daemon's train job: the button asks the job,
the job renders clips of the weights as they are into samples/step_N, and clients list them."""
from __future__ import annotations

import time

from daemon.models.checkpoint_files import model_fingerprint
from tests.conftest import open_page
from tests.train.conftest import encode_samples, write_tensor_folder


def _wait_for(client, job_id: str, type: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in client.request("job_events", {"job_id": job_id})["events"]:
            if event["type"] == type:
                return event
        assert client.job(job_id)["state"] in ("queued", "running"), client.job(job_id)
        time.sleep(0.2)
    raise AssertionError(f"no {type} event within {timeout} s")


def test_sample_now_button_renders_clips_of_the_running_training(daemon_proc, demo_root, demo_manager, dit_dir,
                                                                 tmp_path, monkeypatch):
    client = daemon_proc.client
    tensors = write_tensor_folder(tmp_path / "tensors", encode_samples(demo_manager.get("dit"), [24, 32]),
                                  fingerprint=model_fingerprint(dit_dir), model_name=dit_dir.name)
    job_id = client.submit("train", {"tensors_dir": str(tensors), "epochs": 10_000, "batch_size": 1,
                                     "gradient_accumulation": 1, "rank": 4, "alpha": 8, "save_every_epochs": 0,
                                     "sample_strengths": [1.0], "sample_seconds": 2.0, "crop_frames": 0})
    _wait_for(client, job_id, "metric")

    at = open_page(monkeypatch, daemon_proc.home, "pages/monitor.py")
    at.button(key=f"monitor.sample.{job_id}").click().run()
    done = _wait_for(client, job_id, "samples_done")
    client.stop(job_id)
    assert client.wait(job_id, timeout=60)["state"] == "stopped"

    assert done["data"]["group"].startswith("step_") and done["data"]["clips"] == 1
    (clip,) = client.run_samples(job_id)
    assert clip["group"] == done["data"]["group"] and clip["prompt"] == "sks" and clip["strength"] == 1.0
    assert client.run_file(job_id, clip["audio"])[:4] == b"fLaC"
