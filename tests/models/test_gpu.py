"""GPU status and monitor: says "no GPU" on a CPU machine, never crashes; peak, average, alerts."""
from __future__ import annotations

import time

from daemon.events import EventBus
from daemon.models.gpu import GpuMonitor, gpu_status, vram_check

GIB = 2**30


def test_status_without_a_gpu_says_so_and_the_monitor_does_not_start():
    status = gpu_status()
    if status["available"]:  # on a GPU machine: the real fields
        device = status["devices"][0]
        assert status["driver"] and device["memory_total"] >= device["memory_used"]
        assert "compute_capability" in device and isinstance(device["other_processes"], list)
        return
    assert status["reason"].startswith("no GPU")
    monitor = GpuMonitor(bus=EventBus("test"))
    assert monitor.start() is False and not monitor.running
    assert monitor.stats()["reason"].startswith("no GPU")
    assert monitor.sample() is None
    monitor.close()
    assert vram_check(8 * GIB) == {"ok": True, "checked": False, "message": status["reason"]}


class FakeNvml:
    """Statuses like gpu_status() returns, with memory use stepping through `percents`."""

    def __init__(self, percents):
        self.percents = list(percents)

    def __call__(self) -> dict:
        percent = self.percents.pop(0) if len(self.percents) > 1 else self.percents[0]
        used = int(80 * GIB * percent / 100)
        device = {"index": 0, "name": "Test GPU", "memory_total": 80 * GIB, "memory_used": used,
                  "memory_free": 80 * GIB - used, "used_percent": float(percent), "utilization_percent": 50,
                  "processes": [], "other_processes": [{"pid": 1, "name": "other", "used_bytes": GIB, "ours": False}]}
        return {"available": True, "driver": "test", "devices": [device]}


def test_monitor_tracks_peak_and_average_and_alerts_once_per_crossing():
    bus = EventBus("test")
    monitor = GpuMonitor(bus=bus, alert_percent=90, source=FakeNvml([50, 70, 95, 96, 60, 93]))
    for _ in range(6):
        monitor.sample()
    stats = monitor.stats()
    assert stats["samples"] == 6 and stats["peak_percent"] == 96
    assert abs(stats["average_percent"] - (50 + 70 + 95 + 96 + 60 + 93) / 6) < 0.01
    events = bus.since(0)
    alerts = [e for e in events if e["type"] == "gpu_alert"]
    assert len(alerts) == 2  # crossing up at 95, again at 93 after dropping to 60
    assert "other (pid 1)" in alerts[0]["data"]["message"]
    assert [e["data"]["used_percent"] for e in events if e["type"] == "gpu"] == [50, 70, 95, 96, 60, 93]


def test_monitor_thread_samples_and_stops():
    monitor = GpuMonitor(poll_seconds=0.01, source=FakeNvml([40]))
    assert monitor.start() is True
    deadline = time.monotonic() + 5
    while monitor.stats()["samples"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    monitor.close()
    assert monitor.stats()["samples"] >= 3 and not monitor.running


def test_without_a_gpu_the_daemon_log_says_so_once_however_often_pages_ask(daemon):
    from shared.home import log_file

    for _ in range(5):  # the Service page asks every 2 s
        status = daemon.request("gpu", {})
    if status["available"]:
        return  # on a GPU machine the monitor runs
    log = log_file(daemon.home).read_text()
    assert log.count("GPU monitor not started") == 1, log
