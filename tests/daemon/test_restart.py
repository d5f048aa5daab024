"""A daemon started over a killed one's files: interrupted jobs are shown as such, leftovers removed."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import ROOT
from tests.daemon.test_jobs import wait_state


def test_a_restart_marks_the_killed_job_interrupted_and_removes_stale_temporaries(daemon_proc):
    client = daemon_proc.client
    running = client.submit("selftest", {"steps": 10_000, "step_seconds": 0.01})
    queued = client.submit("selftest", {"steps": 1})
    wait_state(client, running, ("running",))
    while client.job(running)["progress"].get("done", 0) < 5:
        time.sleep(0.02)
    run = daemon_proc.home / "runs" / running
    # what a kill in the middle of a save leaves: a hidden folder beside the checkpoints, and one inside
    stale = [run / ".tmp-final", run / "checkpoints" / ".tmp-epoch_3-4242"]
    for folder in stale:
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"half")
    stale.append(run / ".job.json.4242.0a1b2c3d.tmp")  # a JSON write cut short
    stale[-1].write_text('{"state": "runn')
    kept = run / "checkpoints" / "epoch_2"
    kept.mkdir()
    # where folders cannot be swapped in one step: killed between setting the older best/ aside and
    # moving the new one in (the older one comes back), and after it (the set-aside one goes)
    (run / ".old-best-4242").mkdir()
    (run / ".old-best-4242" / "adapter_model.safetensors").write_bytes(b"older best")
    (run / "final").mkdir()
    (run / ".old-final-4242").mkdir()
    stale.append(run / ".old-final-4242")
    daemon_proc.kill()
    assert json.loads((run / "job.json").read_text())["state"] == "running"

    client = daemon_proc.start()
    jobs = {j["id"]: j for j in client.jobs()}
    assert jobs[running]["state"] == "interrupted" and jobs[queued]["state"] == "interrupted"
    assert "the daemon stopped while this job was running" in jobs[running]["error"]["evalue"]
    assert jobs[running]["progress"]["done"] >= 5  # where it was, from its events
    assert jobs[running]["resume_from"] is None  # selftest saves no checkpoint to resume from
    assert json.loads((run / "job.json").read_text())["state"] == "interrupted"
    assert not any(folder.exists() for folder in stale) and kept.is_dir()
    assert (run / "best" / "adapter_model.safetensors").read_bytes() == b"older best"
    assert not (run / ".old-best-4242").exists() and (run / "final").is_dir()

    table = subprocess.run([sys.executable, "-m", "shared.cli", "--home", str(daemon_proc.home), "jobs"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
    assert f"{running}  selftest  interrupted" in table
    # a new job runs as usual, and the interrupted ones stay finished
    assert client.wait(client.submit("selftest", {"steps": 2, "step_seconds": 0}), timeout=30)["state"] == "done"
    assert client.job(running)["state"] == "interrupted"
