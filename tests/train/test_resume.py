"""Resume loses nothing: 2N steps straight equal N steps, stop, resume, N steps, bit for bit on CPU;
a kill during a save leaves the previous checkpoint resumable; a changed run is refused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from daemon.train.loop import train
from daemon.train.optim import lr_lambda
from daemon.train.policies import list_checkpoints
from daemon.train.state import read_checkpoint
from shared.errors import TrainingError

from .conftest import RecordingReporter, small_settings, write_tensor_folder

ROOT = Path(__file__).resolve().parents[2]


def _resume_settings(adapter_type: str, **changes):
    # Everything random or stateful on: adapter dropout, CFG dropout, crops, warm-up + cosine, clipping.
    return small_settings(**{
        "adapter_type": adapter_type, "dropout": 0.1, "cfg_dropout": 0.3, "crop_frames": 28,
        "scheduler": "cosine", "warmup_steps": 2, "epochs": 3, "batch_size": 2, "max_grad_norm": 0.5,
        "best_warmup_epochs": 100, **changes})


def _final_weights(run_dir: Path, adapter_type: str) -> dict[str, torch.Tensor]:
    name = "adapter_model.safetensors" if adapter_type == "lora" else f"{adapter_type}_weights.safetensors"
    return load_file(str(run_dir / "final" / name))


def _straight_and_resumed(fresh_model, samples, tmp_path, adapter_type, stop_at, optimizer="adamw"):
    settings = _resume_settings(adapter_type, optimizer=optimizer)
    straight = train(settings, fresh_model(), samples, tmp_path / "straight", RecordingReporter())
    first = train(settings, fresh_model(), samples, tmp_path / "first", RecordingReporter(),
                  should_stop=lambda step: step >= stop_at)
    assert first["outcome"] == "stopped" and first["global_step"] == stop_at
    reporter = RecordingReporter()
    second = train(settings.replace(resume_from=first["last_checkpoint"]), fresh_model(), samples,
                   tmp_path / "second", reporter)
    assert reporter.of("resumed")[0]["step"] == stop_at
    assert second["global_step"] == straight["global_step"] == 12
    return straight, first, second


@pytest.mark.parametrize("adapter_type,stop_at,where", [
    ("lora", 4, "epoch_1"),  # 4 steps per epoch: a stop at the end of epoch 1
    ("lora", 6, "step_6"),   # in the middle of epoch 2
    ("lokr", 6, "step_6"),
    ("lora+adafactor", 6, "step_6"),
])
def test_stop_and_resume_is_bitwise_identical(fresh_model, samples, tmp_path, adapter_type, stop_at, where):
    adapter_type, _, optimizer = adapter_type.partition("+")
    straight, first, _ = _straight_and_resumed(fresh_model, samples, tmp_path, adapter_type, stop_at,
                                               optimizer or "adamw")
    assert Path(first["last_checkpoint"]).name == where
    a, b = _final_weights(tmp_path / "straight", adapter_type), _final_weights(tmp_path / "second", adapter_type)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert straight["last_loss"] == pytest.approx(_last_loss(tmp_path / "second"), abs=0)


def _points(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _last_loss(run_dir: Path) -> float:
    return [p for p in _points(run_dir) if "loss" in p][-1]["loss"]


def test_resume_refuses_weights_that_differ_from_the_saved_ones(fresh_model, samples, tmp_path):
    settings = _resume_settings("lora")
    first = train(settings, fresh_model(), samples, tmp_path / "a", RecordingReporter(),
                  should_stop=lambda step: step >= 2)
    weights_path = Path(first["last_checkpoint"]) / "adapter_model.safetensors"
    weights = load_file(str(weights_path))
    key = next(iter(weights))
    weights[key] = weights[key] + 1e-3
    save_file(weights, str(weights_path))
    with pytest.raises(TrainingError, match="differ from the saved ones"):
        train(settings.replace(resume_from=first["last_checkpoint"]), fresh_model(), samples, tmp_path / "b",
              RecordingReporter())


def test_strict_resume_refuses_changed_optimizer_settings(fresh_model, samples, tmp_path):
    settings = _resume_settings("lora", epochs=1)
    first = train(settings, fresh_model(), samples, tmp_path / "a", RecordingReporter(),
                  should_stop=lambda step: step >= 2)
    changed = settings.replace(resume_from=first["last_checkpoint"], learning_rate=5e-3, strict_resume=True)
    with pytest.raises(TrainingError, match="learning_rate"):
        train(changed, fresh_model(), samples, tmp_path / "b", RecordingReporter())
    with pytest.raises(TrainingError, match="rank"):
        train(changed.replace(strict_resume=False, rank=8), fresh_model(), samples, tmp_path / "c",
              RecordingReporter())


def test_a_resume_applies_a_changed_learning_rate_and_weight_decay(fresh_model, samples, tmp_path):
    settings = _resume_settings("lora", epochs=1, weight_decay=0.01)  # cosine with 2 warm-up steps, 4 steps
    first = train(settings, fresh_model(), samples, tmp_path / "a", RecordingReporter(),
                  should_stop=lambda step: step >= 2)
    changed = settings.replace(resume_from=first["last_checkpoint"], learning_rate=5e-3, weight_decay=0.1,
                               save_every_steps=1)
    reporter = RecordingReporter()
    done = train(changed, fresh_model(), samples, tmp_path / "b", reporter)
    assert done["outcome"] == "completed" and done["global_step"] == 4
    assert reporter.of("resumed")[0]["changed"] == {
        "learning_rate": [1e-3, 5e-3], "weight_decay": [0.01, 0.1], "save_every_steps": [0, 1]}
    factor = lr_lambda("cosine", 2, 4)
    used = {p["step"]: p["lr"] for p in _points(tmp_path / "b") if "loss" in p}
    assert used == {3: pytest.approx(5e-3 * factor(2)), 4: pytest.approx(5e-3 * factor(3))}
    state, _ = read_checkpoint(tmp_path / "b" / "checkpoints" / "step_3")
    group = state["optimizer"]["param_groups"][0]
    assert group["weight_decay"] == 0.1 and group["initial_lr"] == 5e-3
    assert state["scheduler"]["base_lrs"] == [5e-3]


KILLED_RUN = textwrap.dedent("""
    import sys, time
    import daemon.train.state as state
    from daemon.preprocess.tensor_folder import open_tensor_folder
    from daemon.train.batching import FolderSamples
    from daemon.train.loop import train
    sys.path.insert(0, {tests!r})
    from conftest import RecordingReporter, load_dit, small_settings

    real_save, calls = state.save_file, []
    def slow_save(tensors, path, metadata=None):
        calls.append(path)
        real_save(tensors, path, metadata=metadata)
        if len(calls) == 2:  # the second checkpoint: stop half-way through writing it
            print("SAVING", flush=True)
            time.sleep(120)
    state.save_file = slow_save
    samples = FolderSamples(open_tensor_folder({tensors!r}))
    train(small_settings(save_every_steps=1, epochs=3), load_dit({dit!r}), samples, {run!r}, RecordingReporter())
""")


@pytest.mark.slow
def test_a_kill_during_a_save_leaves_the_previous_checkpoint_resumable(fresh_model, samples, dit_dir, tmp_path):
    tensors = write_tensor_folder(tmp_path / "tensors", samples)
    run = tmp_path / "run"
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), tensors=str(tensors), dit=str(dit_dir),
                               run=str(run))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        line = b""
        while time.monotonic() < deadline and b"SAVING" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert b"SAVING" in line, "the child never reached its second save"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    checkpoints = run / "checkpoints"
    assert [p.name for p in list_checkpoints(checkpoints)] == ["step_1"]
    assert any(p.name.startswith(".tmp-step_2") for p in checkpoints.iterdir())  # the half-written one
    resumed = train(small_settings(save_every_steps=1, epochs=3, resume_from=str(checkpoints / "step_1")),
                    fresh_model(), samples, tmp_path / "resumed", RecordingReporter())
    assert resumed["outcome"] == "completed" and resumed["global_step"] == 12


def test_a_resumed_run_keeps_the_best_model_for_final(fresh_model, samples, tmp_path):
    settings = _resume_settings("lora", best_warmup_epochs=0, epochs=3)
    first = train(settings, fresh_model(), samples, tmp_path / "a", RecordingReporter(),
                  should_stop=lambda step: step >= 4)
    assert (tmp_path / "a" / "best").is_dir()
    second = train(settings.replace(resume_from=first["last_checkpoint"]), fresh_model(), samples, tmp_path / "b",
                   RecordingReporter())
    assert second["best_epoch"] is not None and (tmp_path / "b" / "best").is_dir()
    best = json.loads((tmp_path / "b" / "best" / "training_info.json").read_text())
    final = json.loads((tmp_path / "b" / "final" / "training_info.json").read_text())
    assert final["epoch"] == best["epoch"] == second["best_epoch"]


@pytest.mark.parametrize("change", [{"batch_size": 4}, {"seed": 7}])
def test_a_resume_with_another_epoch_order_restarts_the_unfinished_epoch(fresh_model, samples, tmp_path, change):
    settings = small_settings(epochs=2)  # 8 samples in batches of 2: 4 steps per epoch
    first = train(settings, fresh_model(), samples, tmp_path / "a", RecordingReporter(),
                  should_stop=lambda step: step >= 2)
    assert Path(first["last_checkpoint"]).name == "step_2"
    reporter = RecordingReporter()
    done = train(settings.replace(resume_from=first["last_checkpoint"], **change), fresh_model(), samples,
                 tmp_path / "b", reporter)
    resumed = reporter.of("resumed")[0]
    assert resumed["batch_in_epoch"] == 0 and resumed["restarted_epoch"] is True
    notes = reporter.of("train_preflight")[0]["notes"]
    assert any("start of the unfinished epoch" in note and next(iter(change)) in note for note in notes)
    steps_per_epoch = 8 // (change.get("batch_size", 2))
    assert done["global_step"] == 2 + 2 * steps_per_epoch  # both epochs whole at the new batching
    assert reporter.of("train_preflight")[0]["total_steps"] == done["global_step"]
    epochs = [p for p in _points(tmp_path / "b") if "epoch_loss" in p]
    assert [(p["epoch"], p["step"]) for p in epochs] == [(1, 2 + steps_per_epoch), (2, 2 + 2 * steps_per_epoch)]
