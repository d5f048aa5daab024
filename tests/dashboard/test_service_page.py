"""The Service page through Streamlit's AppTest, against a real daemon."""
from __future__ import annotations

import time


from tests.conftest import open_page

def test_service_page_shows_the_daemon_and_its_jobs(daemon, monkeypatch):
    job_id = daemon.submit("selftest", {"steps": 3, "step_seconds": 0.0})
    daemon.wait(job_id, timeout=30)
    at = open_page(monkeypatch, daemon.home)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Daemon"] == "connected" and metrics["PID"] == str(daemon.info["pid"])
    jobs_table = at.dataframe[0].value
    assert job_id in set(jobs_table["id"]) and "done" in set(jobs_table["state"])
    log = at.dataframe[1].value
    assert "job_state" in set(log["type"])


def test_service_page_runs_a_selftest(daemon, monkeypatch):
    at = open_page(monkeypatch, daemon.home)
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
