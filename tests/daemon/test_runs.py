"""The runs commands (daemon/runs.py) and the `runs` verb, against a real daemon: what clients on
another machine learn of the run folders without reading them."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from daemon.run_files import read_points
from shared.cli import main as cli_main
from shared.errors import JobError, ProtocolError, TrainingError

TRAIN = dict(rank=4, alpha=8, dropout=0.0, epochs=500, batch_size=1, gradient_accumulation=1, warmup_steps=0,
             scheduler="constant", save_every_epochs=0, keep_last=2, crop_frames=0, best_warmup_epochs=0)


@pytest.fixture(scope="module")
def tensors(demo_root, tmp_path_factory) -> Path:
    from daemon.models.checkpoint_files import model_fingerprint
    from tests.train.conftest import encode_samples, load_dit, write_tensor_folder

    dit = Path(demo_root) / "checkpoints" / "acestep-v15-demo"
    return write_tensor_folder(tmp_path_factory.mktemp("runs") / "tensors", encode_samples(load_dit(dit), [24, 31]),
                               fingerprint=model_fingerprint(dit), model_name="acestep-v15-demo")


def wait_for_steps(client, job_id: str, steps: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while (client.job(job_id).get("progress") or {}).get("done", 0) < steps:
        assert time.monotonic() < deadline, f"{job_id} did not reach step {steps}"
        time.sleep(0.2)


def all_points(client, run_id: str) -> list[dict]:
    reply = client.request("run_metrics", {"run_id": run_id})
    assert not reply["more"]
    return reply["points"]


def test_a_stopped_run_lists_its_resumable_checkpoint_every_step_and_resumes(daemon, demo_root, tensors, capsys):
    settings = {**TRAIN, "tensors_dir": str(tensors),
                "checkpoint": str(Path(demo_root) / "checkpoints" / "acestep-v15-demo")}
    job_id = daemon.submit("train", settings)
    wait_for_steps(daemon, job_id, 5)
    daemon.stop(job_id)
    stopped = daemon.wait(job_id, timeout=120)
    assert stopped["state"] == "stopped", stopped.get("error")
    steps = stopped["result"]["global_step"]

    run = next(r for r in daemon.request("runs")["runs"] if r["id"] == job_id)
    assert run["kind"] == "train" and run["state"] == "stopped" and run["last_step"] == steps
    assert run["summary"] == "lora rank 4 alpha 8 · lr 0.0001 adamw · 500 epochs · batch 1x1"
    checkpoint = stopped["result"]["last_checkpoint"]
    saved = next(o for o in run["outputs"] if o["path"] == checkpoint)
    assert saved["resumable"] and saved["step"] == steps and saved["name"].startswith("checkpoints/")
    assert run["resumable"] and run["resume_from"] == checkpoint and run["final"] is None

    # Every step logged reaches a client, once, though events go out only a few times a second.
    points = all_points(daemon, job_id)
    assert [p["step"] for p in points if "loss" in p] == list(range(1, steps + 1))
    cursor = daemon.request("run_metrics", {"run_id": job_id})["cursor"]
    assert daemon.request("run_metrics", {"run_id": job_id, "cursor": cursor})["points"] == []

    # The resume rule, asked before submitting: same shape passes, another rank is named.
    check = daemon.request("resume_check", {"checkpoint": checkpoint, "settings": settings})
    assert check["differences"] == [] and check["step"] == steps and check["settings"]["rank"] == 4
    changed = daemon.request("resume_check", {"checkpoint": checkpoint, "settings": {**settings, "rank": 8}})
    assert changed["differences"] == ["rank: 4 -> 8"]
    with pytest.raises(TrainingError, match="not a checkpoint"):
        daemon.request("resume_check", {"checkpoint": str(tensors), "settings": settings})

    assert cli_main(["--home", str(daemon.home), "runs", "--kind", "train"]) == 0
    out = capsys.readouterr().out
    assert job_id in out and "stopped" in out and checkpoint in out and "resumable" in out

    resumed_id = daemon.submit("train", {**settings, "max_steps": steps + 2, "resume_from": checkpoint})
    resumed = daemon.wait(resumed_id, timeout=180)
    assert resumed["state"] == "done", resumed.get("error")
    runs = {r["id"]: r for r in daemon.request("runs", {"kinds": ["train"]})["runs"]}
    assert list(runs) == [resumed_id, job_id]  # newest first
    assert runs[resumed_id]["resumed_from"] == checkpoint
    assert runs[resumed_id]["final"] == str(Path(resumed["run_dir"]) / "final")
    assert [p["step"] for p in all_points(daemon, resumed_id) if "loss" in p] == [steps + 1, steps + 2]
    assert cli_main(["--home", str(daemon.home), "--json", "runs"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)} == {job_id, resumed_id}


def test_runs_of_an_earlier_daemon_read_as_interrupted_after_a_restart(daemon_proc):
    client = daemon_proc.client
    done = client.wait(client.submit("selftest", {"steps": 3, "step_seconds": 0.0}), timeout=30)
    cut = client.submit("selftest", {"steps": 10_000, "step_seconds": 0.05})
    wait_for_steps(client, cut, 2)
    daemon_proc.kill(signal.SIGKILL)
    client = daemon_proc.start()
    states = {r["id"]: r["state"] for r in client.request("runs")["runs"]}
    assert states == {done["id"]: "done", cut: "interrupted"}
    assert [p["value"] for p in all_points(client, done["id"])] != [] and len(all_points(client, done["id"])) == 3
    detail = client.request("run", {"run_id": done["id"]})["run"]
    assert detail["settings"]["steps"] == 3 and "steps 3" in detail["summary"]


def test_run_ids_are_names_never_paths(daemon):
    with pytest.raises(ProtocolError, match="run id"):
        daemon.request("run_metrics", {"run_id": "../daemon.json"})
    with pytest.raises(JobError, match="no run"):
        daemon.request("run", {"run_id": "20250101-000000-train-abcdef"})


def test_metric_points_skip_a_line_still_being_written_and_follow_a_new_source(tmp_path):
    events = [{"seq": i, "type": "metric" if i % 2 else "log", "data": {"step": i}} for i in range(1, 6)]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events) + '{"seq": 6, "ty')
    first = read_points(tmp_path)
    assert [p["step"] for p in first["points"]] == [1, 3, 5] and first["source"] == "events.jsonl"
    with open(tmp_path / "events.jsonl", "a") as fh:
        fh.write('pe": "metric", "data": {"step": 6}}\n')
    assert [p["step"] for p in read_points(tmp_path, first["cursor"])["points"]] == [6]

    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.0}\n')
    switched = read_points(tmp_path, first["cursor"], limit=1)
    assert switched["reset"] and switched["more"] and switched["points"] == [{"step": 1, "loss": 2.0}]
    rest = read_points(tmp_path, switched["cursor"])
    assert not rest["reset"] and not rest["more"] and rest["points"] == [{"step": 2, "loss": 1.0}]
