"""A job that runs another job as its stage (`JobContext.run_child`, how the pipeline runs its
stages), in a job queue in this process: the child is a job of its own, listed with its parent and
named as the running job; one stop stops both, the child first."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import daemon.selftest  # noqa: F401  (registers the selftest kind the parent runs)
from daemon.events import EventBus
from daemon.jobs import JobQueue
from daemon.registry import JOB_KINDS, Services, job_kind
from shared.settings import SettingsGroup, setting


@dataclass
class ParentSettings(SettingsGroup):
    group_name = "test_parent"

    steps: int = setting(100_000, "Steps of the child selftest.", minimum=1)


@job_kind("test_parent", ParentSettings, "Runs a selftest as its stage.")
def run_parent(ctx, settings: ParentSettings) -> dict:
    child = ctx.run_child("selftest", {"steps": settings.steps, "step_seconds": 0.01})
    ctx.raise_if_stopped()
    return {"child": child.id, "child_state": child.state}


def _wait(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_a_stage_is_a_job_of_its_own_and_one_stop_stops_both(tmp_path):
    (tmp_path / "runs").mkdir()
    queue = JobQueue(tmp_path / "runs", EventBus("test"), Services())
    try:
        parent = queue.submit("test_parent", {})
        child = _wait(lambda: next((j for j in queue.list() if j.kind == "selftest" and j.progress), None))
        assert child.parent == parent.id and child.state == parent.state == "running"
        assert queue.running() is child  # status, stop and actions address the job computing now
        saved = json.loads((child.run_dir / "job.json").read_text())
        assert saved["parent"] == parent.id and saved["state"] == "running"

        queue.stop()
        _wait(lambda: parent.state != "running")
        assert (child.state, parent.state) == ("stopped", "stopped")
        assert 0 < child.result["completed_steps"] < 100_000
        assert [j.id for j in queue.list()] == [parent.id, child.id]
    finally:
        queue.close()
        JOB_KINDS.pop("test_parent", None)
