"""The Monitor page through AppTest against a real daemon: charts seeded from the snapshot, then
extended from the event stream; generic over numeric metric fields (a selftest reports `value`)."""
from __future__ import annotations

import json
import math
import time

from streamlit.testing.v1 import AppTest

from dashboard.components.metric_charts import MAX_DRAWN, chart_groups, series, thin
from dashboard.components.metric_store import JobMetrics, earlier_points
from tests.conftest import ROOT
from tests.conftest import open_page
from tests.dashboard.conftest import plotly_traces


def wait_for_metric(daemon, job_id: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(e["type"] == "metric" and e["job_id"] == job_id for e in daemon.events(0, 5000)):
        assert time.monotonic() < deadline, "no metric event"
        time.sleep(0.05)


def test_monitor_follows_a_running_job_across_page_changes_then_the_next(daemon, monkeypatch):
    job_id = daemon.submit("selftest", {"steps": 40, "step_seconds": 0.05})
    wait_for_metric(daemon, job_id)
    monkeypatch.setenv("ACESTEP_STUDIO_HOME", str(daemon.home))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/monitor.py").run()  # opened mid-run: seeded from the snapshot
    assert not at.exception, at.exception
    if daemon.job(job_id)["state"] == "running":
        assert at.button(key=f"monitor.stop.{job_id}")
    assert 1 <= plotly_traces(at)["value"]["value"] <= 40
    at.switch_page("pages/service.py").run()
    assert any(key.endswith(job_id) for key in at.session_state["monitor.live"])  # kept while away
    assert daemon.wait(job_id, timeout=30)["state"] == "done"
    at.switch_page("pages/monitor.py").run()  # back: the points kept, the rest read as events
    assert plotly_traces(at)["value"]["value"] == 40
    assert any(job_id in s.value for s in at.success)

    second = daemon.submit("selftest", {"steps": 3, "step_seconds": 0.0})
    daemon.wait(second, timeout=30)
    at.run()
    assert plotly_traces(at)["value"]["value"] == 3  # a new job: a new chart


def test_stop_from_the_monitor(daemon, monkeypatch):
    job_id = daemon.submit("selftest", {"steps": 1000, "step_seconds": 0.05})
    wait_for_metric(daemon, job_id)
    at = open_page(monkeypatch, daemon.home, "pages/monitor.py")
    assert [b.key for b in at.button if b.key.endswith(job_id)] == [f"monitor.stop.{job_id}"]  # no save/sample
    at.button(key=f"monitor.stop.{job_id}").click().run()
    assert daemon.wait(job_id, timeout=30)["state"] == "stopped"
    at.run()
    assert any(f"{job_id} stopped" in w.value for w in at.warning)


def test_monitor_without_jobs_says_so(daemon, monkeypatch):
    at = open_page(monkeypatch, daemon.home, "pages/monitor.py")
    assert any("No job has run" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_charts_group_training_fields_and_skip_what_cannot_be_drawn():
    points = [
        {"step": 1, "epoch": 1, "loss": 1.0, "loss_ma": 1.0, "lr": 1e-4, "grad_norm": 0.5, "step_time": 0.2,
         "samples_per_s": 5.0, "memory_mb": 100.0, "eta_s": 3.0, "skipped": False},
        {"step": 2, "epoch": 1, "loss": math.nan, "loss_ma": 1.0, "lr": 1e-4, "grad_norm": math.inf, "skipped": True},
        {"epoch": 1, "step": 2, "epoch_loss": 1.0, "epoch_loss_ma5": 1.0, "val_loss": None},
        {"step": 3, "custom": 7},
    ]
    groups = dict(chart_groups(points))
    assert groups == {"Loss": ["loss", "loss_ma", "epoch_loss", "epoch_loss_ma5"], "Learning rate": ["lr"],
                      "Gradient norm": ["grad_norm"], "custom": ["custom"]}
    assert "memory (MB)" in dict(chart_groups(points, performance=True))
    assert series(points, "loss") == ([1], [1.0])  # the non-finite loss of a skipped step is left out


def test_metric_points_merge_by_seq_without_duplicates():
    entry = JobMetrics("a")
    event = lambda seq, job="a": {"seq": seq, "type": "metric", "job_id": job, "data": {"step": seq}}  # noqa: E731
    entry.merge([event(5), event(6), event(7, "b"), {"seq": 8, "type": "progress", "job_id": "a", "data": {}}])
    entry.merge([event(2), event(6)])  # a re-seed after a gap: older points slot in, repeats are dropped
    assert [p["seq"] for p in entry.points] == [2, 5, 6]


def test_a_late_seed_takes_the_older_steps_from_the_run_folder(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in range(1, 11)]
    metrics.write_text("\n".join(lines) + '\n{"step": 3, "lo')  # the last line cut short by a kill
    older = earlier_points(metrics, [{"step": 6, "loss": 0.1, "seq": 40}])
    assert [p["step"] for p in older] == [1, 2, 3, 4, 5] and {p["seq"] for p in older} == {0}


def test_long_runs_are_thinned_for_drawing():
    xs = list(range(12_001))
    tx, ty = thin(xs, xs)
    assert len(tx) <= MAX_DRAWN + 1 and tx[0] == 0 and tx[-1] == 12_000 and tx == ty
