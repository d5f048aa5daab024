"""GPU status through nvidia-ml-py, and a background monitor (FEATURES SV-5).

`gpu_status()` lists each NVIDIA GPU: name, driver, compute capability, VRAM used/free/total,
utilisation and the processes using it (ours marked). On a machine without one it returns
`{"available": False, "reason": "no GPU ..."}` and never raises. `GpuMonitor` samples on a
thread, keeps peak and average use, and publishes `gpu` events (on change, at most every few
seconds) and a `gpu_alert` when use crosses `gpu_alert_percent`. `vram_check(bytes)` is the
pre-training warning. No torch import here.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

log = logging.getLogger(__name__)

_NVML_LOCK = threading.Lock()
_nvml_state: dict[str, Any] = {"ready": None, "reason": ""}
EVENT_MIN_CHANGE_PERCENT = 1.0
EVENT_HEARTBEAT_S = 30.0
ALERT_REARM_PERCENT = 2.0


def _nvml():
    """The initialised pynvml module, or None with the reason recorded (tried once per process)."""
    with _NVML_LOCK:
        if _nvml_state["ready"] is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml_state["ready"] = pynvml
            except Exception as err:  # no library, no driver, no device: all mean "no GPU" here
                _nvml_state["ready"] = False
                _nvml_state["reason"] = f"{type(err).__name__}: {err}"
        return _nvml_state["ready"] or None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _process_name(nvml: Any, pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        try:
            return _text(nvml.nvmlSystemGetProcessName(pid))
        except Exception:
            return "?"


def _processes(nvml: Any, handle: Any) -> list[dict]:
    seen: dict[int, dict] = {}
    for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        try:
            running = getattr(nvml, getter)(handle)
        except Exception:
            continue
        for proc in running:
            used = getattr(proc, "usedGpuMemory", None)
            entry = seen.setdefault(proc.pid, {"pid": proc.pid, "name": _process_name(nvml, proc.pid),
                                               "used_bytes": 0, "ours": proc.pid == os.getpid()})
            entry["used_bytes"] += int(used) if isinstance(used, int) else 0
    return sorted(seen.values(), key=lambda p: -p["used_bytes"])


def _device(nvml: Any, index: int) -> dict:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    info: dict[str, Any] = {
        "index": index,
        "name": _text(nvml.nvmlDeviceGetName(handle)),
        "memory_total": int(memory.total),
        "memory_used": int(memory.used),
        "memory_free": int(memory.free),
        "used_percent": round(100.0 * memory.used / memory.total, 2) if memory.total else 0.0,
    }
    optional = (
        ("compute_capability", lambda: ".".join(map(str, nvml.nvmlDeviceGetCudaComputeCapability(handle)))),
        ("utilization_percent", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        ("temperature_c", lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
    )
    for key, call in optional:
        try:
            info[key] = call()
        except Exception:
            info[key] = None
    info["processes"] = _processes(nvml, handle)
    info["other_processes"] = [p for p in info["processes"] if not p["ours"]]
    return info


def gpu_status() -> dict:
    """Every NVIDIA GPU with memory and processes, or {"available": False, "reason": ...}."""
    nvml = _nvml()
    if nvml is None:
        return {"available": False, "reason": f"no GPU ({_nvml_state['reason']})"}
    try:
        count = nvml.nvmlDeviceGetCount()
        if not count:
            return {"available": False, "reason": "no GPU (the NVIDIA driver reports none)"}
        return {
            "available": True,
            "driver": _text(nvml.nvmlSystemGetDriverVersion()),
            "devices": [_device(nvml, i) for i in range(count)],
        }
    except Exception as err:
        return {"available": False, "reason": f"no GPU status ({type(err).__name__}: {err})"}


def vram_check(required_bytes: int, device_index: int = 0) -> dict:
    """Pre-training check: is there `required_bytes` of free VRAM? `ok` plus a message to show."""
    status = gpu_status()
    if not status["available"]:
        return {"ok": True, "checked": False, "message": status["reason"]}
    devices = status["devices"]
    device = devices[min(device_index, len(devices) - 1)]
    free = device["memory_free"]
    ok = free >= required_bytes
    message = (f"{device['name']}: {free / 2**30:.1f} GiB free, about {required_bytes / 2**30:.1f} GiB needed")
    if not ok:
        others = ", ".join(f"{p['name']} ({p['used_bytes'] / 2**30:.1f} GiB)" for p in device["other_processes"])
        message += f"; other processes on the GPU: {others}" if others else ""
    return {"ok": ok, "checked": True, "free_bytes": free, "required_bytes": required_bytes, "message": message}


class GpuMonitor:
    """Samples GPU memory on a thread: peak, average, `gpu` events and `gpu_alert` on a threshold."""

    def __init__(self, bus: Any = None, alert_percent: float = 92.0, poll_seconds: float = 2.0,
                 device_index: int = 0, source: Callable[[], dict] | None = None) -> None:
        self.bus = bus
        self.source = source or gpu_status  # what gives a status like gpu_status()
        self.alert_percent = alert_percent
        self.poll_seconds = poll_seconds
        self.device_index = device_index
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reason = ""
        self.reset()

    def reset(self) -> None:
        """Forget peak and average (e.g. at the start of a training run)."""
        with self._lock:
            self._samples = 0
            self._sum_percent = 0.0
            self._peak_percent = 0.0
            self._peak_used = 0
            self._last: dict | None = None
            self._alerting = False
            self._last_event = (0.0, -100.0)

    def start(self) -> bool:
        """Start sampling; False (and no thread) when there is no GPU. Never raises."""
        if self._thread is not None and self._thread.is_alive():
            return True
        status = self.source()
        if not status["available"]:
            if status["reason"] != self._reason:  # asked at every `gpu` request: said once, not every time
                log.info("GPU monitor not started: %s", status["reason"])
            self._reason = status["reason"]
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gpu-monitor", daemon=True)
        self._thread.start()
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict:
        with self._lock:
            return {
                "running": self.running,
                "reason": None if self.running else (self._reason or "not started"),
                "samples": self._samples,
                "peak_percent": round(self._peak_percent, 2),
                "peak_used_bytes": self._peak_used,
                "average_percent": round(self._sum_percent / self._samples, 2) if self._samples else None,
                "alert_percent": self.alert_percent,
                "alerting": self._alerting,
                "last": self._last,
            }

    def sample(self) -> dict | None:
        """Take one sample now (the thread calls this); None without a GPU."""
        status = self.source()
        if not status["available"]:
            return None
        devices = status["devices"]
        device = devices[min(self.device_index, len(devices) - 1)]
        percent, used = device["used_percent"], device["memory_used"]
        with self._lock:
            self._samples += 1
            self._sum_percent += percent
            self._peak_percent = max(self._peak_percent, percent)
            self._peak_used = max(self._peak_used, used)
            self._last = {k: device[k] for k in ("index", "name", "memory_used", "memory_free",
                                                 "memory_total", "used_percent", "utilization_percent")}
            crossed = percent >= self.alert_percent and not self._alerting
            if crossed:
                self._alerting = True
            elif self._alerting and percent < self.alert_percent - ALERT_REARM_PERCENT:
                self._alerting = False
        self._publish(device, crossed)
        return device

    def _publish(self, device: dict, crossed: bool) -> None:
        if self.bus is None:
            return
        now, percent = time.monotonic(), device["used_percent"]
        last_time, last_percent = self._last_event
        if abs(percent - last_percent) >= EVENT_MIN_CHANGE_PERCENT or now - last_time >= EVENT_HEARTBEAT_S:
            self._last_event = (now, percent)
            self.bus.emit("gpu", {**(self._last or {}), "peak_percent": self._peak_percent})
        if crossed:
            others = [f"{p['name']} (pid {p['pid']})" for p in device["other_processes"]]
            self.bus.emit("gpu_alert", {
                "used_percent": percent, "alert_percent": self.alert_percent, "name": device["name"],
                "message": f"GPU memory at {percent:.0f}% (alert at {self.alert_percent:.0f}%)"
                           + (f"; other processes: {', '.join(others)}" if others else ""),
            })

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as err:  # the monitor must never take the daemon down
                log.warning("GPU monitor sample failed: %s", err)
            self._stop.wait(self.poll_seconds)
