"""Jobs through a real daemon: answers while a job runs, queue order, cancel, graceful stop, failures, events."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shared.config import DaemonSettings
from shared.errors import JobError, ProtocolError

from tests.conftest import ROOT


def wait_state(client, job_id, states, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {client.job(job_id)}")


def test_status_and_ping_answer_while_a_job_runs(daemon):
    """How fast they answer is measured in bench/daemon_latency.py; here: that they do, and what."""
    job_id = daemon.submit("selftest", {"steps": 200, "step_seconds": 0.02, "matrix_size": 256})
    wait_state(daemon, job_id, ("running",))
    while not daemon.job(job_id)["progress"]:
        time.sleep(0.01)  # ask once it is really working
    steps = []
    for _ in range(20):
        snap = daemon.status()
        assert daemon.ping()["pong"]
        steps.append(snap["running"]["progress"]["done"])
    assert snap["running"]["id"] == job_id and snap["running"]["progress"]["total"] == 200
    assert steps == sorted(steps) and 0 < steps[-1] < 200  # live figures of the running job
    daemon.stop(job_id)


def test_queue_runs_in_order_and_cancel_removes_a_queued_job(daemon):
    ids = [daemon.submit("selftest", {"steps": 3, "step_seconds": 0.05}) for _ in range(3)]
    assert [j["id"] for j in daemon.status()["queue"]][-1] == ids[2]
    cancelled = daemon.cancel(ids[1])
    assert cancelled["state"] == "cancelled"
    finished = [wait_state(daemon, i, ("done", "cancelled")) for i in ids]
    assert [j["state"] for j in finished] == ["done", "cancelled", "done"]
    assert finished[0]["ended_at"] <= finished[2]["started_at"]
    with pytest.raises(JobError, match="only queued jobs can be cancelled"):
        daemon.cancel(ids[0])


def test_stop_is_graceful_and_the_job_saves(daemon):
    job_id = daemon.submit("selftest", {"steps": 1000, "step_seconds": 0.01})
    wait_state(daemon, job_id, ("running",))
    time.sleep(0.2)
    daemon.stop()
    job = wait_state(daemon, job_id, ("stopped",))
    state = json.loads((daemon.home / "runs" / job_id / "selftest_state.json").read_text())
    assert 0 < state["completed_steps"] < 1000
    assert job["result"]["completed_steps"] == state["completed_steps"]


def test_an_action_the_job_does_not_support_is_refused(daemon):
    job_id = daemon.submit("selftest", {"steps": 1000, "step_seconds": 0.01})
    wait_state(daemon, job_id, ("running",))
    with pytest.raises(JobError, match="selftest jobs do not act on 'save_now'; they support: none"):
        daemon.action("save_now", job_id)
    daemon.stop(job_id)


def test_failing_job_is_recorded_and_the_daemon_keeps_serving(daemon):
    job_id = daemon.submit("selftest", {"steps": 5, "fail_at": 3, "step_seconds": 0.0})
    job = wait_state(daemon, job_id, ("failed",))
    assert job["error"]["ename"] == "JobError" and "fail_at=3" in job["error"]["evalue"]
    events = [json.loads(line) for line in (daemon.home / "runs" / job_id / "events.jsonl").read_text().splitlines()]
    error = next(e for e in events if e["type"] == "error")
    assert "Traceback" in error["data"]["traceback"]
    assert daemon.ping()["pong"]
    ok = daemon.submit("selftest", {"steps": 2, "step_seconds": 0.0})
    assert wait_state(daemon, ok, ("done",))["state"] == "done"


def test_events_are_ordered_and_name_their_request(daemon):
    with daemon.subscribe() as stream:
        job_id = daemon.submit("selftest", {"steps": 5, "step_seconds": 0.01})
        wait_state(daemon, job_id, ("done",))
        events = []
        while (batch := stream.drain(0.3)):
            events += batch
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq must increase by one with no gap"
    mine = [e for e in events if e["job_id"] == job_id]
    assert {e["type"] for e in mine} >= {"job_state", "progress", "metric"}
    submit_msg_ids = {e["parent_msg_id"] for e in mine}
    assert len(submit_msg_ids) == 1 and None not in submit_msg_ids


def test_late_subscriber_catches_up_from_the_snapshot(daemon):
    job_id = daemon.submit("selftest", {"steps": 12, "step_seconds": 0.0})
    wait_state(daemon, job_id, ("done",))
    from shared.client import StudioClient

    late = StudioClient(daemon.home)
    snap = late.status()
    assert snap["metrics_job"] == job_id
    assert [m["data"]["step"] for m in snap["metrics"]] == list(range(1, 13))
    with late.subscribe() as stream:
        assert len(stream.history(job_id)) >= 12 + 12  # progress and metric of every step
        next_job = late.submit("selftest", {"steps": 2, "step_seconds": 0.0})
        wait_state(late, next_job, ("done",))
        got = stream.drain(1.0)
        assert got and got[0]["seq"] == snap["last_seq"] + 1


def test_gap_in_the_stream_is_filled_from_the_ring_buffer(daemon):
    with daemon.subscribe() as stream:
        job_id = daemon.submit("selftest", {"steps": 3, "step_seconds": 0.0})
        wait_state(daemon, job_id, ("done",))
        first = stream.drain(1.0)
        assert first
        # pretend we missed everything after the first event: the next one triggers a fill
        stream.last_seq = first[0]["seq"] - 1
        stream.sock.close(0)
        import zmq

        stream.sock = daemon.connect(zmq.SUB, "event_port")
        stream.sock.setsockopt(zmq.SUBSCRIBE, b"event")
        time.sleep(0.3)
        other = daemon.submit("selftest", {"steps": 1, "step_seconds": 0.0})
        wait_state(daemon, other, ("done",))
        filled = stream.drain(1.0)
        seqs = [e["seq"] for e in filled]
        assert seqs[0] == first[0]["seq"] and seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_client_notices_a_daemon_restart(daemon_proc):
    client = daemon_proc.client
    old_session = client.status()["daemon_session"]
    daemon_proc.kill()
    daemon_proc.start()
    client.refresh_connection()
    assert client.status()["daemon_session"] != old_session and client.restarted


def cli(home, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "shared.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_cli_end_to_end_with_json(daemon):
    done = cli(daemon.home, "--json", "submit", "selftest", "--set", "steps=3", "--set", "step_seconds=0", "--wait")
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout[done.stdout.index('{\n  "job"'):])
    assert final["job"]["state"] == "done"
    failed = cli(daemon.home, "submit", "selftest", "--set", "fail_at=1", "--wait")
    assert failed.returncode == 1 and "fail_at=1" in failed.stderr
    status = json.loads(cli(daemon.home, "--json", "status").stdout)
    assert status["pid"] == daemon.info["pid"]
    jobs = json.loads(cli(daemon.home, "--json", "jobs").stdout)
    assert [j["state"] for j in jobs] == ["done", "failed"]
    logs = cli(daemon.home, "logs", jobs[0]["id"])
    assert "state done" in logs.stdout
    bad = cli(daemon.home, "submit", "selftest", "--set", "steps=many")
    assert bad.returncode == 1 and "Steps: expected int, got 'many'" in bad.stderr
    table = cli(daemon.home, "jobs").stdout
    assert "KIND" in table and "selftest" in table
    assert cli(daemon.home, "shutdown").returncode == 0


def test_cli_without_a_daemon_says_how_to_start_one(tmp_path):
    result = cli(tmp_path, "status")
    assert result.returncode == 1 and "no daemon" in result.stderr and "make run" in result.stderr


def test_sigterm_stops_the_running_job_gracefully(daemon_proc):
    import signal

    client = daemon_proc.client
    job_id = client.submit("selftest", {"steps": 10_000, "step_seconds": 0.01})
    queued = client.submit("selftest", {"steps": 1})
    wait_state(client, job_id, ("running",))
    time.sleep(0.2)
    daemon_proc.proc.send_signal(signal.SIGTERM)
    assert daemon_proc.proc.wait(30) == 0
    run = daemon_proc.home / "runs"
    assert json.loads((run / job_id / "job.json").read_text())["state"] == "stopped"
    assert json.loads((run / job_id / "selftest_state.json").read_text())["completed_steps"] > 0
    assert json.loads((run / queued / "job.json").read_text())["state"] == "cancelled"
    assert not (daemon_proc.home / "daemon.json").exists()


def test_status_can_leave_out_the_metric_points(daemon):
    job_id = daemon.submit("selftest", {"steps": 5, "step_seconds": 0.0})
    wait_state(daemon, job_id, ("done",))
    assert len(daemon.status()["metrics"]) == 5
    assert len(daemon.status(metrics_limit=2)["metrics"]) == 2
    assert daemon.status(metrics_limit=0)["metrics"] == []


def test_status_gives_the_metric_points_after_a_seq_from_the_whole_run(daemon):
    steps = 2500  # more than the 2000 points the old ring buffer kept for every job together
    job_id = daemon.submit("selftest", {"steps": steps, "step_seconds": 0.0, "matrix_size": 1})
    wait_state(daemon, job_id, ("done",), timeout=120)
    everything = daemon.status(metrics_since=0)
    assert [m["data"]["step"] for m in everything["metrics"]] == list(range(1, steps + 1))
    assert everything["metrics_more"] is False
    tenth = everything["metrics"][9]["seq"]
    newer = daemon.status(metrics_since=tenth, metrics_limit=5)
    assert [m["data"]["step"] for m in newer["metrics"]] == [11, 12, 13, 14, 15] and newer["metrics_more"]
    assert daemon.status(metrics_since=everything["last_seq"])["metrics"] == []
    # a page that asked before gets only what came after, also across jobs
    next_job = daemon.submit("selftest", {"steps": 3, "step_seconds": 0.0})
    wait_state(daemon, next_job, ("done",))
    after = daemon.status(metrics_since=everything["last_seq"])
    assert after["metrics_job"] == next_job and [m["data"]["step"] for m in after["metrics"]] == [1, 2, 3]
    assert len(daemon.status()["metrics"]) == 3  # without metrics_since: the latest points, as before
    with pytest.raises(ProtocolError, match="content.metrics_since: expected an integer >= 0"):
        daemon.status(metrics_since=-1)


def test_a_job_writing_into_a_folder_a_queued_or_running_job_writes_into_is_refused(daemon, tmp_path):
    blocker = daemon.submit("selftest", {"steps": 10_000, "step_seconds": 0.01})  # keeps the others queued
    wait_state(daemon, blocker, ("running",))
    out = tmp_path / "segments"
    first = daemon.submit("split_audio", {"input_dir": str(tmp_path / "songs"), "output_dir": str(out)})
    for folder in (out, out / "sub", tmp_path):  # the same folder, one inside it, one holding it
        with pytest.raises(JobError, match=rf"Output dir {folder} is in use by the queued split_audio job {first}"):
            daemon.submit("split_audio", {"input_dir": str(tmp_path / "other"), "output_dir": str(folder)})
    elsewhere = daemon.submit("split_audio", {"input_dir": str(tmp_path / "songs"), "output_dir": str(tmp_path / "b")})
    assert [j["id"] for j in daemon.status()["queue"]] == [first, elsewhere]
    daemon.cancel(first)
    again = daemon.submit("split_audio", {"input_dir": str(tmp_path / "other"), "output_dir": str(out)})
    assert daemon.job(again)["state"] == "queued"  # free again once the first one is cancelled
    daemon.stop(blocker)


def thread_slices(pid: int) -> dict[int, tuple[int, int]]:
    """{thread id: (nice, scheduler slice in ns)} of every thread of a process (Linux's sched_getattr)."""
    import ctypes

    from daemon.sched import SCHED_ATTR, SCHED_SETATTR

    # sched_getattr's number follows sched_setattr's on every architecture daemon.sched knows
    libc, number = ctypes.CDLL(None, use_errno=True), SCHED_SETATTR[platform.machine().lower()] + 1
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        attr = ctypes.create_string_buffer(SCHED_ATTR.size)
        if libc.syscall(number, int(task.name), attr, SCHED_ATTR.size, 0) == 0:
            fields = SCHED_ATTR.unpack(attr.raw)
            found[int(task.name)] = (fields[3], fields[5])
    return found


def kernel_takes_slices() -> bool:
    """Linux 6.12 and newer keep a thread's requested slice (older ones report none): asked on a
    thread of this process that ends at once."""
    from daemon.sched import SCHED_SETATTR, ask_for_quick_turns

    if not sys.platform.startswith("linux") or platform.machine().lower() not in SCHED_SETATTR:
        return False
    kept = []

    def probe() -> None:
        ask_for_quick_turns(300)
        kept.append(thread_slices(os.getpid()).get(threading.get_native_id(), (0, 0))[1] == 300_000)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return kept == [True]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own priority is Linux's")
def test_jobs_run_below_the_thread_that_answers(daemon_proc):
    """A job that keeps every core busy must not delay the answers to a polling dashboard: the job
    worker (and what it starts) runs `job_nice` levels below the daemon's other threads and, where
    the kernel takes it, with a long time slice while the threads that answer have a short one."""
    client = daemon_proc.client
    job_id = client.submit("selftest", {"steps": 1000, "step_seconds": 0.01})
    wait_state(client, job_id, ("running",))
    pid = daemon_proc.proc.pid
    tasks = Path(f"/proc/{pid}/task")
    nices = {int(stat.read_text().rsplit(")", 1)[1].split()[16]) for stat in tasks.glob("*/stat")}
    names = {int(comm.parent.name): comm.read_text().strip() for comm in tasks.glob("*/comm")}
    slices = thread_slices(pid)
    client.stop(job_id)
    settings = DaemonSettings()
    assert nices == {0, settings.job_nice} and settings.job_nice > 0
    if not kernel_takes_slices():
        return
    answering = [pid] + [tid for tid, name in names.items() if name.startswith("ZMQbg/IO")]
    assert {slices[tid] for tid in answering} == {(0, int(settings.request_slice_us * 1000))}
    jobs = [tid for tid, (nice, _) in slices.items() if nice == settings.job_nice]
    assert jobs and {slices[tid][1] for tid in jobs} == {int(settings.job_slice_ms * 1_000_000)}
