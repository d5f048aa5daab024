"""Training on several GPUs (TR-14), as two CPU processes over gloo: the daemon launches the ranks,
stays the job's owner (events, save now, stop), and the run is the one-process run with the
global batch; its checkpoints resume on one process."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from daemon.train.batching import FolderSamples
from daemon.train.launch import check_global_batch
from daemon.train.loop import train
from shared.errors import SettingsError, TrainingError
from shared.train_settings import TrainSettings, batch_changes

from .conftest import write_tensor_folder

RUN = dict(rank=4, alpha=8, dropout=0.0, warmup_steps=0, scheduler="constant", learning_rate=1e-3,
           gradient_accumulation=1, crop_frames=0, best_warmup_epochs=0, keep_last=0, sample_every_epochs=0)


@pytest.fixture
def tensors(tmp_path, samples, dit_dir) -> Path:
    from daemon.models.checkpoint_files import model_fingerprint

    return write_tensor_folder(tmp_path / "tensors", samples, fingerprint=model_fingerprint(dit_dir),
                               model_name="acestep-v15-demo")


def _steps(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _events(run: Path, type: str) -> list[dict]:
    lines = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return [e["data"] for e in lines if e["type"] == type]


def _adapter(folder: Path) -> dict:
    return load_file(str(folder / "adapter_model.safetensors"))


def _assert_same_adapter(a: Path, b: Path) -> None:
    left, right = _adapter(a), _adapter(b)
    assert left.keys() == right.keys()
    for key in left:
        assert (left[key] - right[key]).abs().max() < 1e-5, key


@pytest.mark.slow
def test_two_ranks_train_as_one_process_with_the_doubled_batch(daemon, demo_root, dit_dir, tensors, fresh_model,
                                                                tmp_path, reporter):
    """zero1 (optimizer state split across the ranks) on two ranks of batch 1 against one process of
    batch 2: the same losses, validation losses and adapter; one set of files; and the two-rank
    step checkpoint resumes on one process to the same adapter."""
    common = dict(RUN, epochs=2, validation_share=0.25, save_every_steps=2, tensors_dir=str(tensors))
    job = daemon.wait(daemon.submit("train", {**common, "checkpoint": str(dit_dir), "batch_size": 1, "devices": 2,
                                              "strategy": "zero1"}), timeout=600)
    assert job["state"] == "done", job.get("error")
    ranks_run = Path(job["run_dir"])
    one = TrainSettings.from_dict({**common, "batch_size": 2})
    alone = train(one, fresh_model(), FolderSamples(_open(tensors)), tmp_path / "alone", reporter)

    assert job["result"]["global_step"] == alone["global_step"] == 6  # 6 training samples, 3 global batches
    two, single = _steps(ranks_run), _steps(tmp_path / "alone")
    assert len(two) == len(single) == 6 + 2  # one line per step and per epoch: rank 0's only
    for mine, theirs in zip(two, single):
        for key in ("loss", "grad_norm", "epoch_loss", "val_loss"):
            if key in theirs:
                assert mine[key] == pytest.approx(theirs[key], rel=1e-5), key
    _assert_same_adapter(ranks_run / "final", tmp_path / "alone" / "final")
    assert len(_events(ranks_run, "train_preflight")) == len(_events(ranks_run, "train_finished")) == 1
    assert _events(ranks_run, "train_preflight")[0]["ranks"] == 2
    assert sorted(p.name for p in (ranks_run / "checkpoints").iterdir()) == ["step_2", "step_4", "step_6"]
    assert len(list((ranks_run / "tensorboard").iterdir())) == 1

    # The step-2 checkpoint is inside the first epoch (3 steps): on one process with the same
    # global batch it goes on from there, and ends where both runs ended.
    resumed = train(TrainSettings.from_dict({**common, "batch_size": 2,
                                             "resume_from": str(ranks_run / "checkpoints" / "step_2")}),
                    fresh_model(), FolderSamples(_open(tensors)), tmp_path / "resumed", reporter)
    assert reporter.of("resumed")[0]["restarted_epoch"] is False
    assert {"batch_size", "devices"} <= set(reporter.of("resumed")[0]["changed"])
    assert resumed["global_step"] == 6
    _assert_same_adapter(tmp_path / "resumed" / "final", tmp_path / "alone" / "final")


@pytest.mark.slow
def test_save_now_and_stop_reach_every_rank(daemon, demo_root, dit_dir, tensors):
    """`save_now` saves once, a stop saves once more, at one step for both ranks; the job ends stopped."""
    settings = dict(RUN, epochs=500, batch_size=2, devices=2, save_every_epochs=0, tensors_dir=str(tensors),
                    checkpoint=str(dit_dir))
    job_id = daemon.submit("train", settings)
    _wait_for(daemon, job_id, "metric")
    daemon.action("save_now", job_id)
    _wait_for(daemon, job_id, "checkpoint_saved")
    daemon.stop(job_id)
    job = daemon.wait(job_id, timeout=300)
    assert job["state"] == "stopped" and job["result"]["outcome"] == "stopped"
    run = Path(job["run_dir"])
    saved = _events(run, "checkpoint_saved")
    assert len(saved) == 2 and saved[0]["step"] < saved[1]["step"] == job["result"]["global_step"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(Path(s["path"]).name for s in saved)
    state = json.loads((Path(saved[1]["path"]) / "training_state.json").read_text())
    assert state["global_step"] == job["result"]["global_step"]
    assert "ACESTEP_RANK_ERROR" not in (run / "ranks.log").read_text()


def _wait_for(daemon, job_id: str, type: str, timeout: float = 300) -> dict:
    """The data of the job's first event of `type`, once it came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in daemon.events(limit=1000):
            if event["type"] == type and event.get("job_id") == job_id:
                return event["data"]
        job = daemon.job(job_id)
        assert job["state"] in ("queued", "running"), job.get("error")
        time.sleep(0.3)
    raise AssertionError(f"no {type} event within {timeout} s")


def _open(folder: Path):
    from daemon.preprocess.tensor_folder import open_tensor_folder

    return open_tensor_folder(folder)


def test_the_global_batch_decides_what_a_resume_changes():
    saved = TrainSettings.from_dict({"batch_size": 1, "devices": 4}).to_dict()
    assert batch_changes(saved, TrainSettings.from_dict({"batch_size": 4}).to_dict()) == []
    assert batch_changes(saved, TrainSettings.from_dict({"batch_size": 1}).to_dict()) == ["devices"]
    old_checkpoint = {"batch_size": 2}  # saved before devices existed: one GPU
    assert batch_changes(old_checkpoint, TrainSettings.from_dict({"batch_size": 2}).to_dict()) == []
    several = TrainSettings.from_dict({"batch_size": 2, "devices": 4, "num_nodes": 2, "master_addr": "10.0.0.1"})
    assert several.global_batch_size == 16 and several.world_size == 8


def test_settings_for_several_gpus_are_checked_by_label():
    with pytest.raises(SettingsError, match="Main machine address: several machines need"):
        TrainSettings.from_dict({"num_nodes": 2, "devices": 2})
    with pytest.raises(SettingsError, match="Strategy: zero1 splits the optimizer state.*not prodigy"):
        TrainSettings.from_dict({"strategy": "zero1", "optimizer": "prodigy", "learning_rate": 1.0})
    with pytest.raises(TrainingError, match="batch_size 2 on 4 GPUs makes batches of 8 samples, more than the 5"):
        check_global_batch(5, TrainSettings.from_dict({"batch_size": 2, "devices": 4}))


def test_the_loop_alone_refuses_several_gpus(fresh_model, samples, reporter, tmp_path):
    settings = TrainSettings.from_dict(dict(RUN, devices=2, batch_size=1, epochs=1))
    with pytest.raises(TrainingError, match="2 GPUs asked for: such a run is launched by the daemon"):
        train(settings, fresh_model(), samples, tmp_path, reporter)


@pytest.mark.slow
def test_a_second_machine_joins_with_the_printed_command(daemon, demo_root, dit_dir, tensors, tmp_path):
    """Two machines of one GPU each, on loopback: the job prints the second machine's command, which
    runs as printed (in a shell) and writes nothing; a stop while the second machine is missing
    ends the waiting first one at once."""
    settings = dict(RUN, epochs=1, batch_size=2, devices=1, num_nodes=2, master_addr="127.0.0.1",
                    save_every_epochs=1, tensors_dir=str(tensors), checkpoint=str(dit_dir))
    waiting = daemon.submit("train", settings)
    _wait_for(daemon, waiting, "ranks_command")
    daemon.stop(waiting)
    job = daemon.wait(waiting, timeout=120)
    assert job["state"] == "stopped" and "before training began" in job["result"]["message"]
    assert not (Path(job["run_dir"]) / "checkpoints").exists()

    job_id = daemon.submit("train", settings)
    command = _wait_for(daemon, job_id, "ranks_command")["commands"][0]
    elsewhere = tmp_path / "machine1"
    elsewhere.mkdir()
    second = subprocess.run(command, shell=True, cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    job = daemon.wait(job_id, timeout=300)
    assert job["state"] == "done", job.get("error")
    assert job["result"]["global_step"] == 2 and (Path(job["run_dir"]) / "checkpoints" / "epoch_1").is_dir()
    assert not list(elsewhere.iterdir())


def test_a_failed_run_names_the_rank_that_failed_first(tmp_path):
    """A rank that fails makes its peers fail too (rank 0 then reports only a closed connection):
    the job names the first failure in the ranks' output, or rank 0's own error, as it was raised."""
    from daemon.train.launch import ERROR_MARK, outcome

    log = tmp_path / "ranks.log"
    closed = ("RuntimeError", "Connection closed by peer")
    log.write_text("loading\n" + ERROR_MARK + json.dumps({"rank": 1, "type": "OutOfMemoryError",
                                                          "message": "CUDA out of memory"}) + "\n"
                   + ERROR_MARK + json.dumps({"rank": 0, "type": "RuntimeError", "message": "closed"}) + "\n")
    with pytest.raises(TrainingError, match="rank 1 failed: CUDA out of memory"):
        outcome(None, closed, log, 1)
    log.write_text(ERROR_MARK + json.dumps({"rank": 0, "type": "SettingsError", "message": "Rank: must be 4"}))
    with pytest.raises(SettingsError, match="Rank: must be 4"):
        outcome(None, ("SettingsError", "Rank: must be 4"), log, 1)
    log.write_text("Killed\n")
    with pytest.raises(TrainingError, match="ended with exit code -9; their output is in"):
        outcome(None, None, log, -9)
    assert outcome({"outcome": "completed"}, None, log, 0) == {"outcome": "completed"}
