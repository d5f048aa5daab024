"""A daemon a dashboard started ends with that dashboard, gracefully; one started on its own stays."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, DaemonProcess, open_page
from tests.daemon.test_jobs import wait_state


def ctrl_c_works() -> None:
    """In the child: SIGINT as a terminal gives it, even where the tests run with it ignored (a shell's
    background job, nohup), which Python would otherwise keep and Ctrl-C would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

STARTS_THE_DAEMON_AS_THE_BUTTON_DOES = """
import sys, time
from dashboard.connection import start_daemon
assert start_daemon()
print("started", flush=True)
time.sleep(600)
"""


def started_job(client) -> str:
    job_id = client.submit("selftest", {"steps": 100_000, "step_seconds": 0.01})
    wait_state(client, job_id, ("running",))
    while not client.job(job_id)["progress"]:
        time.sleep(0.02)
    return job_id


def assert_saved_and_stopped(home, job_id: str) -> None:
    run = home / "runs" / job_id
    assert json.loads((run / "job.json").read_text())["state"] == "stopped"
    assert json.loads((run / "selftest_state.json").read_text())["completed_steps"] > 0
    assert not (home / "daemon.json").exists()


def test_a_daemon_stops_gracefully_when_the_process_that_owns_it_exits(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    proc = DaemonProcess(tmp_path, "--owner-pid", str(owner.pid))
    try:
        client = proc.start()
        assert client.status()["owner_pid"] == owner.pid
        job_id = started_job(client)
        owner.kill()  # not even a chance to say goodbye
        owner.wait(10)
        assert proc.proc.wait(60) == 0
        assert_saved_and_stopped(tmp_path, job_id)
    finally:
        owner.kill()
        proc.kill()


def test_the_start_button_gives_the_daemon_to_the_dashboard_process(tmp_path):
    env = {**os.environ, "ACESTEP_STUDIO_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    dashboard = subprocess.Popen([sys.executable, "-c", STARTS_THE_DAEMON_AS_THE_BUTTON_DOES], env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=ctrl_c_works)
    try:
        assert dashboard.stdout.readline().strip() == "started"
        from shared.client import StudioClient

        client = StudioClient(tmp_path)
        daemon_pid = client.status()["pid"]
        assert client.status()["owner_pid"] == dashboard.pid
        job_id = started_job(client)
        dashboard.send_signal(signal.SIGINT)  # Ctrl-C of `make run` ends the dashboard
        dashboard.wait(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (tmp_path / "daemon.json").exists():
            time.sleep(0.1)
        assert_saved_and_stopped(tmp_path, job_id)
        with pytest.raises(ProcessLookupError):
            for _ in range(100):  # the daemon's process ends right after its connection file goes
                os.kill(daemon_pid, 0)
                time.sleep(0.1)
    finally:
        dashboard.kill()


def test_a_daemon_started_on_its_own_has_no_owner_and_the_service_page_says_so(daemon, monkeypatch):
    assert daemon.status()["owner_pid"] is None
    at = open_page(monkeypatch, daemon.home, "pages/service.py")
    assert any("Started on its own: it keeps running when the dashboard exits" in c.value for c in at.caption)


def test_the_service_page_says_the_daemon_belongs_to_this_dashboard(tmp_path, monkeypatch):
    proc = DaemonProcess(tmp_path, "--owner-pid", str(os.getpid()))  # this test process plays the dashboard
    proc.start()
    try:
        at = open_page(monkeypatch, tmp_path, "pages/service.py")
        assert any("Started by this dashboard: it stops when that dashboard exits" in c.value for c in at.caption)
    finally:
        proc.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_run_dashboard_prints_one_address_and_ctrl_c_stops_its_daemon_after_a_save(tmp_path):
    port = free_port()
    run = subprocess.Popen([sys.executable, str(ROOT / "run_dashboard.py"), "--home", str(tmp_path),
                            "--port", str(port), "--start-daemon"],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           preexec_fn=ctrl_c_works)
    try:
        lines = []
        while not any("ACE-Step LoRA Studio:" in line for line in lines):
            line = run.stdout.readline()
            assert line, f"run_dashboard.py ended before its banner: {lines}"
            lines.append(line)
        from shared.client import StudioClient

        client = StudioClient(tmp_path)
        assert client.status()["owner_pid"] == run.pid
        job_id = started_job(client)
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=120)
        text = "".join(lines) + out
        assert text.count(f"http://127.0.0.1:{port}") == 1, text
        assert "You can now view" not in text and "start the daemon with" not in text
        assert_saved_and_stopped(tmp_path, job_id)
    finally:
        run.kill()


@pytest.mark.slow
def test_run_dashboard_refuses_a_taken_port_and_sigterm_stops_all_it_started(tmp_path):
    port = free_port()
    command = [sys.executable, str(ROOT / "run_dashboard.py"), "--home", str(tmp_path), "--port", str(port),
               "--start-daemon"]
    with socket.socket() as other:  # a dashboard left running, or any other program
        other.bind(("127.0.0.1", port))
        other.listen()
        refused = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and f"port {port} on 127.0.0.1 is in use" in refused.stderr
    assert "ACE-Step LoRA Studio:" not in refused.stdout and not (tmp_path / "daemon.json").exists()

    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        while "ACE-Step LoRA Studio:" not in (line := run.stdout.readline()):
            assert line, "run_dashboard.py ended before its banner"
        run.send_signal(signal.SIGTERM)  # `kill`: the dashboard server and the daemon go too
        run.communicate(timeout=120)
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there any more
        assert not (tmp_path / "daemon.json").exists()
    finally:
        run.kill()
