"""The Service page through Streamlit's AppTest, against a real daemon."""
from __future__ import annotations

import time


from dashboard.components.event_log import new_rows
from tests.conftest import open_page


def test_service_page_shows_the_daemon_and_its_jobs(daemon, monkeypatch):
    job_id = daemon.submit("selftest", {"steps": 3, "step_seconds": 0.0})
    daemon.wait(job_id, timeout=30)
    at = open_page(monkeypatch, daemon.home)
    at.switch_page("pages/service.py").run()  # the app opens on Quick start
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Daemon"] == "connected" and metrics["PID"] == str(daemon.info["pid"])
    jobs_table = at.dataframe[0].value
    assert job_id in set(jobs_table["id"]) and "done" in set(jobs_table["state"])
    assert list(jobs_table["progress"]) == [100]  # whole percentages, as everywhere on the page
    log = at.dataframe[1].value
    events = list(log["event"])  # newest first; progress and metrics are in the jobs table and the charts
    assert events[:3] == ["selftest done", "selftest running", "selftest queued"]
    assert len(events) == 4 and events[3].startswith("daemon started (pid ")
    at.run()
    at.run()
    assert len(at.dataframe[1].value) == 4  # reruns add no repeats


def test_event_log_lines_read_as_sentences_and_a_repeat_counts_up():
    preflight = {"train_samples": 2, "total_steps": 40, "adapter": "lora", "trainable_parameters": 12288,
                 "device": "cpu", "notes": ["warm-up capped at the run's 40 steps"], "batch_size": 1}
    events = [
        {"seq": 1, "type": "train_preflight", "time": 0, "job_id": "j", "data": preflight},
        {"seq": 2, "type": "progress", "time": 0, "job_id": "j", "data": {"done": 1, "total": 40}},
        {"seq": 3, "type": "checkpoint_saved", "time": 0, "job_id": "j",
         "data": {"path": "/r/checkpoints/step_5", "step": 5, "epoch": 2}},
        {"seq": 4, "type": "log", "time": 0, "job_id": "j", "data": {"message": "retrying"}},
        {"seq": 5, "type": "log", "time": 0, "job_id": "j", "data": {"message": "retrying"}},
        {"seq": 6, "type": "something_new", "time": 0, "job_id": "j", "data": {"value": 0.123456, "nested": {"a": 1}}},
    ]
    rows: list[dict] = []
    assert new_rows(events, rows, 0) == 6
    assert [r["event"] for r in rows] == [
        "pre-flight: 2 samples, 40 steps, lora with 12,288 trainable parameters on cpu; warm-up capped at "
        "the run's 40 steps",
        "checkpoint saved at epoch 2, step 5: /r/checkpoints/step_5",
        "retrying",
        "something new: value 0.1235",
    ]
    assert rows[2]["count"] == 2
    assert new_rows(events, rows, 6) == 6 and len(rows) == 4  # seen events are not added again


def test_service_page_runs_a_selftest(daemon, monkeypatch):
    at = open_page(monkeypatch, daemon.home)
    at.switch_page("pages/service.py").run()
    at.button(key="selftest.run").click().run()
    assert not at.exception
    deadline = time.monotonic() + 30
    while not daemon.jobs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert daemon.jobs()[0]["kind"] == "selftest"


def test_service_page_says_when_the_daemon_is_down(tmp_path, monkeypatch):
    at = open_page(monkeypatch, tmp_path)
    assert any("daemon is not running" in w.value for w in at.warning)
    assert at.button(key="start_daemon")
