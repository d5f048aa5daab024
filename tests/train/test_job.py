"""The `train` job through a real daemon with the demo checkpoint, presets and the CLI's settings."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shared.cli import build_parser
from shared.cli.train import settings_from_args
from shared.errors import SettingsError
from shared.presets import list_presets, load_preset
from shared.train_settings import TrainSettings

from .conftest import write_tensor_folder

JOB_SETTINGS = dict(rank=4, alpha=8, dropout=0.0, epochs=2, batch_size=2, gradient_accumulation=1,
                    warmup_steps=0, scheduler="constant", save_every_epochs=1, keep_last=1, crop_frames=0,
                    best_warmup_epochs=0)


@pytest.fixture
def tensors(tmp_path, samples, dit_dir) -> Path:
    from daemon.models.checkpoint_files import model_fingerprint

    return write_tensor_folder(tmp_path / "tensors", samples, fingerprint=model_fingerprint(dit_dir),
                               model_name="acestep-v15-demo", trigger_word="zxq", tag_position="replace")


def test_train_job_writes_the_run_folder(daemon, demo_root, dit_dir, tensors):
    job_id = daemon.submit("train", {**JOB_SETTINGS, "tensors_dir": str(tensors), "checkpoint": str(dit_dir)})
    events: list[dict] = []
    job = daemon.wait(job_id, on_event=events.append, timeout=240)
    assert job["state"] == "done", job.get("error")
    assert job["result"]["global_step"] == 8 and job["result"]["outcome"] == "completed"
    run = Path(job["run_dir"])
    types = [e["type"] for e in events]
    assert "train_preflight" in types and "metric" in types and "checkpoint_saved" in types
    preflight = next(e["data"] for e in events if e["type"] == "train_preflight")
    assert preflight["fingerprint_match"] is True and preflight["trigger_word"] == "zxq"
    for name in ("config.json", "events.jsonl", "metrics.jsonl", "tensorboard", "final", "best"):
        assert (run / name).exists(), name
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch_2"]  # keep_last=1
    config = json.loads((run / "final" / "adapter_config.json").read_text())
    assert config["trigger_word"] == "zxq" and config["tag_position"] == "replace"


@pytest.mark.slow
def test_stop_saves_a_resumable_checkpoint_first(daemon, demo_root, dit_dir, tensors):
    settings = {**JOB_SETTINGS, "epochs": 500, "save_every_epochs": 0, "tensors_dir": str(tensors),
                "checkpoint": str(dit_dir)}
    job_id = daemon.submit("train", settings)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(e["type"] == "metric" and e["job_id"] == job_id for e in daemon.events(limit=1000)):
            break
        time.sleep(0.2)
    daemon.stop(job_id)
    job = daemon.wait(job_id, timeout=120)
    assert job["state"] == "stopped" and job["result"]["outcome"] == "stopped"
    checkpoint = Path(job["result"]["last_checkpoint"])
    state = json.loads((checkpoint / "training_state.json").read_text())
    assert state["global_step"] == job["result"]["global_step"] >= 1
    resumed = daemon.submit("train", {**settings, "epochs": 1 + state["epoch"], "resume_from": str(checkpoint)})
    events: list[dict] = []
    done = daemon.wait(resumed, on_event=events.append, timeout=240)
    assert done["state"] == "done", done.get("error")
    mine = [e for e in events if e.get("job_id") == resumed]
    resumed_event = next(e["data"] for e in mine if e["type"] == "resumed")
    assert resumed_event["step"] == state["global_step"] and resumed_event["epoch"] == state["epoch"]
    assert resumed_event["changed"] == {"epochs": [500, 1 + state["epoch"]]}
    first_step = next(e["data"]["step"] for e in mine if e["type"] == "metric" and "loss" in e["data"])
    assert first_step == state["global_step"] + 1  # it goes on from the checkpoint, not from step 1
    assert done["result"]["global_step"] == 4 * (1 + state["epoch"])  # 4 steps per epoch, the epoch finished


def test_tensors_of_another_model_are_refused(daemon, demo_root, dit_dir, tmp_path, samples):
    folder = write_tensor_folder(tmp_path / "other", samples[:2], fingerprint="0" * 64, model_name="acestep-v15-base")
    job = daemon.wait(daemon.submit("train", {**JOB_SETTINGS, "tensors_dir": str(folder),
                                              "checkpoint": str(dit_dir)}), timeout=120)
    assert job["state"] == "failed", job
    assert job["error"]["ename"] == "TensorFolderError"
    assert "acestep-v15-base" in job["error"]["evalue"]


def test_every_preset_validates_in_both_variants():
    names = [p.name for p in list_presets() if p.source == "shipped"]  # not a user's own imports
    assert {"recommended", "quick_test"} <= set(names)
    for name in names:
        for adapter_type in ("lora", "lokr", "dora", "loha"):
            preset = load_preset(name, adapter_type)
            assert preset.settings.adapter_type == adapter_type and preset.unknown == []


def test_preset_unknown_keys_are_reported_not_applied(tmp_path):
    (tmp_path / "odd.json").write_text(json.dumps({"settings": {"rank": 8, "shift": 3.0},
                                                   "variants": {"lora": {}, "lokr": {"adapter_type": "lokr"}}}))
    preset = load_preset("odd", folder=tmp_path)
    assert preset.unknown == ["shift"] and preset.settings.rank == 8
    with pytest.raises(SettingsError, match="no preset 'missing'"):
        load_preset("missing", folder=tmp_path)


def test_cli_settings_layer_defaults_preset_and_overrides(tmp_path):
    args = build_parser().parse_args(["train", "--tensors", str(tmp_path), "--preset", "recommended",
                                      "--set", "adapter_type=lokr", "--set", "epochs=3", "--resume", "ck"])
    settings = settings_from_args(args)
    lokr = load_preset("recommended", "lokr").settings
    assert settings.adapter_type == "lokr" and settings.epochs == 3
    assert settings.learning_rate == lokr.learning_rate and settings.tensors_dir == str(tmp_path)
    assert Path(settings.resume_from).is_absolute()
    with pytest.raises(SettingsError, match="^Rank: expected int"):
        TrainSettings().with_overrides(["rank=many"])


@pytest.mark.slow
def test_sigterm_to_the_daemon_saves_the_running_training(daemon_proc, demo_root, dit_dir, tensors):
    import signal

    client = daemon_proc.client
    job_id = client.submit("train", {**JOB_SETTINGS, "epochs": 500, "save_every_epochs": 0,
                                     "tensors_dir": str(tensors), "checkpoint": str(dit_dir)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(e["type"] == "metric" and e["job_id"] == job_id for e in client.events(limit=1000)):
            break
        time.sleep(0.2)
    run = Path(client.job(job_id)["run_dir"])
    daemon_proc.kill(signal.SIGTERM)
    saved = [p for p in (run / "checkpoints").iterdir() if (p / "training_state.json").is_file()]
    assert len(saved) == 1
    state = json.loads((saved[0] / "training_state.json").read_text())
    assert state["global_step"] >= 1


def test_bf16_true_gives_the_daemon_its_decoder_back_in_its_own_dtype(demo_root, dit_dir, tensors, tmp_path):
    """The job function on a model manager as the daemon runs it: the shared decoder comes back in
    float32 with the very weights it had, ready for the next job."""
    import torch

    from daemon.models.manager import ModelManager
    from daemon.train.run import run_training
    from shared.config import DaemonSettings

    from tests.conftest import job_context

    manager = ModelManager(DaemonSettings(checkpoint_roots=[str(demo_root / "checkpoints")], demo_root=""),
                           home=tmp_path / "home")
    try:
        manager.select("acestep-v15-demo")
        before = {k: v.clone() for k, v in manager.get("dit").decoder.state_dict().items()}
        settings = TrainSettings.from_dict({**JOB_SETTINGS, "epochs": 1, "precision": "bf16-true",
                                            "tensors_dir": str(tensors)})
        result = run_training(job_context(manager, tmp_path / "run", "train", settings), settings)
        assert result["outcome"] == "completed"
        after = manager.get("dit").decoder.state_dict()
        assert {k: v.dtype for k, v in after.items()} == {k: v.dtype for k, v in before.items()}
        assert all(torch.equal(after[k], before[k]) for k in before)
    finally:
        manager.close()
