"""Each policy alone: NaN guard, checkpoint schedule, retention, best model, early stopping."""
from __future__ import annotations

import json

import pytest

from daemon.train.policies import (
    BestTracker, CheckpointSchedule, EarlyStopping, NanGuard, Retention, list_checkpoints,
)


def test_nan_guard_skips_then_halts_after_n_in_a_row():
    guard = NanGuard(halt_after=3)
    assert guard.observe(True) == "ok"
    assert guard.observe(False, step=4) == "skip"
    assert guard.observe(True) == "ok"  # a good step resets the run
    assert [guard.observe(False, step=s, epoch=1) for s in (6, 7, 8)] == ["skip", "skip", "halt"]
    assert "3 non-finite" in guard.diagnosis() and "step 8" in guard.diagnosis()
    restored = NanGuard(3)
    restored.load_state_dict(json.loads(json.dumps(guard.state_dict())))
    assert restored.state_dict() == guard.state_dict()
    assert NanGuard(0).observe(False) == "skip"  # 0 never halts


def test_checkpoint_schedule():
    both = CheckpointSchedule(every_epochs=2, every_steps=5)
    assert [e for e in range(1, 7) if both.due_after_epoch(e)] == [2, 4, 6]
    assert [s for s in range(0, 16) if both.due_after_step(s)] == [5, 10, 15]
    off = CheckpointSchedule(0, 0)
    assert not off.due_after_epoch(3) and not off.due_after_step(3)


def _checkpoint(root, name, step):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "training_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_retention_keeps_the_last_k_including_older_leftovers(tmp_path):
    _checkpoint(tmp_path, "epoch_1", 10)  # an older run's leftovers in the same folder
    _checkpoint(tmp_path, "step_15", 15)
    _checkpoint(tmp_path, "epoch_2", 20)
    _checkpoint(tmp_path, "epoch_3", 30)
    (tmp_path / ".tmp-epoch_4-123").mkdir()  # an interrupted save is not a checkpoint
    deleted = Retention(keep_last=2).prune(tmp_path)
    assert sorted(p.name for p in deleted) == ["epoch_1", "step_15"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch_2", "epoch_3"]
    assert Retention(0).prune(tmp_path) == []


def test_best_tracker_uses_a_five_epoch_moving_average_after_warmup():
    best = BestTracker(warmup_epochs=3, min_delta=0.05)
    results, best_epochs, averages = [], [], []
    for epoch, loss in enumerate([1.0, 0.9, 0.8, 0.75, 0.85, 0.3], start=1):
        results.append(best.update(epoch, loss))
        best_epochs.append(best.best_epoch)
        averages.append(best.moving_average)
    # warm-up; first tracked epoch; 0.8625 and 0.86 are not 0.05 below 0.9; the window drops 1.0
    assert results == [False, False, True, False, False, True]
    assert best_epochs == [None, None, 3, 3, 3, 6]
    assert averages == pytest.approx([1.0, 0.95, 0.9, 0.8625, 0.86, 0.72])
    assert best.best_ma == pytest.approx(0.72)
    again = BestTracker(3, 0.05)
    again.load_state_dict(json.loads(json.dumps(best.state_dict())))
    assert again.state_dict() == best.state_dict()


def test_best_tracker_needs_the_minimum_improvement():
    best = BestTracker(warmup_epochs=0, min_delta=0.1)
    assert best.update(1, 1.0)
    assert not best.update(2, 0.95)  # MA 0.975: not 0.1 better
    assert best.best_epoch == 1


def test_early_stopping_after_patience():
    early = EarlyStopping(patience=2)
    assert not early.update(True)
    assert not early.update(False, tracking=False)  # before tracking starts nothing counts
    assert not early.update(False)
    assert early.update(False)
    assert not EarlyStopping(0).update(False)
