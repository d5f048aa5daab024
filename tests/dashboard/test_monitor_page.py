"""The Monitor page through AppTest against a real daemon: every step a run logged reaches its
chart (read from the daemon after a cursor), runs of an earlier daemon are listed and shown live,
charts are generic over numeric metric fields (a selftest reports `value`)."""
from __future__ import annotations

import math
import time

from dashboard.components.metric_charts import MAX_DRAWN, break_gaps, chart_groups, figure, series, thin
from tests.conftest import open_page
from tests.dashboard.conftest import plotly_traces


def wait_for_steps(client, job_id: str, steps: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (client.job(job_id).get("progress") or {}).get("done", 0) < steps:
        assert time.monotonic() < deadline, f"{job_id} did not reach step {steps}"
        time.sleep(0.05)


def test_monitor_follows_a_running_job_and_draws_every_step_it_logged(daemon, monkeypatch):
    job_id = daemon.submit("selftest", {"steps": 10_000, "step_seconds": 0.02})
    wait_for_steps(daemon, job_id, 3)
    at = open_page(monkeypatch, daemon.home)
    at.switch_page("pages/monitor.py").run()  # opened mid-run
    assert at.button(key=f"monitor.stop.{job_id}")  # the job runs for minutes: it is running here
    assert plotly_traces(at)["value"]["value"] >= 3
    at.switch_page("pages/service.py").run()
    assert job_id in at.session_state["monitor.runs"]  # kept while away
    at.switch_page("pages/monitor.py").run()
    at.button(key=f"monitor.stop.{job_id}").click().run()
    stopped = daemon.wait(job_id, timeout=30)
    assert stopped["state"] == "stopped"
    at.run()  # back to the points kept, and every step logged since, none missing
    assert plotly_traces(at)["value"]["value"] == stopped["result"]["completed_steps"] > 3
    assert any(f"{job_id} stopped" in w.value for w in at.warning)
    assert at.selectbox(key="monitor.job").format_func(job_id).endswith("selftest · stopped")

    second = daemon.submit("selftest", {"steps": 3, "step_seconds": 0.0})
    daemon.wait(second, timeout=30)
    at.run()
    assert plotly_traces(at)["value"]["value"] == 3  # a new job: a new chart


def test_after_a_daemon_restart_live_shows_the_runs_the_selector_lists(daemon_proc, monkeypatch):
    client = daemon_proc.client
    job_id = client.submit("selftest", {"steps": 4, "step_seconds": 0.0})
    client.wait(job_id, timeout=30)
    daemon_proc.stop()
    daemon_proc.start()
    at = open_page(monkeypatch, daemon_proc.home, "pages/monitor.py")
    assert any(o.startswith(job_id) for o in at.selectbox(key="monitor.job").options)
    assert not any("No job has run" in i.value for i in at.info)
    assert any(f"{job_id} done" in s.value for s in at.success)
    assert plotly_traces(at)["value"]["value"] == 4


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


def test_steps_missing_from_a_series_break_the_line_instead_of_bridging_it():
    points = [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3, 6, 7)]
    xs, ys = break_gaps(*series(points, "loss"))
    assert xs == [1, 2, 3, None, 6, 7] and ys[3] is None
    trace = figure("Loss", points, ["loss"]).data[0]
    assert list(trace.x) == xs and trace.connectgaps is False


def test_a_constant_learning_rate_gets_an_axis_around_its_value():
    fig = figure("Learning rate", [{"step": s, "lr": 1e-4} for s in range(1, 50)], ["lr"])
    low, high = fig.layout.yaxis.range
    assert 0 <= low < 1e-4 < high <= 2e-4


def test_long_runs_are_thinned_for_drawing():
    xs = list(range(12_001))
    tx, ty = thin(xs, xs)
    assert len(tx) <= MAX_DRAWN + 1 and tx[0] == 0 and tx[-1] == 12_000 and tx == ty


def test_preflight_warns_only_about_what_needs_a_look():
    """A run's notes (its optimizer replaced, memory short) are warnings; how it runs (compile off on
    the CPU, bf16) is plain text beside the figures, not a yellow box on every run."""
    from streamlit.testing.v1 import AppTest

    def page():
        from dashboard.components.preflight import render_preflight

        render_preflight({"preflight": {
            "train_samples": 8, "steps_per_epoch": 4, "total_steps": 40, "adapter": "lora",
            "trainable_parameters": 12288, "device": "cpu", "precision": "fp32",
            "notes": ["optimizer adamw8bit cannot run here (no CUDA); training with Adafactor"],
            "facts": ["torch.compile auto: off on cpu (a long warm-up for little gain there)"]}})

    at = AppTest.from_function(page).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == [
        "Pre-flight: optimizer adamw8bit cannot run here (no CUDA); training with Adafactor"]
    assert "torch.compile auto: off on cpu" in at.caption[0].value and "8 samples" in at.caption[0].value
