"""The event bus: every event gets the next `seq`, lands in ring buffers and goes out on PUB.

Jobs emit from their worker thread; the server's socket loop drains `outbox` and publishes, so
the PUB socket is only touched by one thread. Events of a job are also appended to its
`events.jsonl` before they are published, so the file is the complete record.

Metric events are also kept per job (the whole run, up to METRICS_PER_JOB points, for the last
METRIC_JOBS jobs) in `seq` order, so a page asks for the points after the last seq it has and gets
them by bisection, never by scanning or copying the history.
"""
from __future__ import annotations

import bisect
import collections
import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

RECENT_EVENTS = 4000
METRICS_PER_JOB = 100_000  # beyond it the oldest tenth is dropped
METRIC_JOBS = 4  # jobs whose metric history is kept


class EventBus:
    def __init__(self, daemon_session: str) -> None:
        self.daemon_session = daemon_session
        self.outbox: queue.SimpleQueue[dict] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()  # one writer of the run folders' events.jsonl at a time
        self._seq = 0
        self._recent: collections.deque[dict] = collections.deque(maxlen=RECENT_EVENTS)
        self._metrics: dict[str | None, list[dict]] = {}  # job id -> its metric events, in seq order
        self.wakeup: Any = None  # set by the server: a callable that interrupts its poll

    @property
    def last_seq(self) -> int:
        return self._seq

    def emit(
        self,
        type: str,
        data: dict | None = None,
        *,
        job_id: str | None = None,
        parent_msg_id: str | None = None,
        log_path: Path | None = None,
    ) -> dict:
        """Record and queue one event, and append it to `log_path`; returns it (with its seq).

        The file is written outside the lock that readers such as `status` take: a job thread that
        is slow on the disk (or low in priority, see daemon.sched) never holds up
        an answer. The file lock is taken before that lock is let go, so lines stay in seq order."""
        with self._lock:
            self._seq += 1
            event = {
                "seq": self._seq,
                "type": type,
                "time": time.time(),
                "job_id": job_id,
                "parent_msg_id": parent_msg_id,
                "data": data or {},
            }
            self._recent.append(event)
            if type == "metric":
                self._keep_metric(event)
            self.outbox.put(event)
            if log_path is not None:
                self._file_lock.acquire()
        if log_path is not None:
            try:
                with open(log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(event, default=str) + "\n")
            finally:
                self._file_lock.release()
        if self.wakeup is not None:
            self.wakeup()
        return event

    def since(self, seq: int, limit: int = 1000) -> list[dict]:
        """Events with a seq above `seq` still in the ring buffer (oldest first)."""
        with self._lock:
            return [e for e in self._recent if e["seq"] > seq][:limit]

    def recent_metrics(self, job_id: str | None, limit: int) -> list[dict]:
        """The last `limit` metric events of a job."""
        with self._lock:
            points = self._metrics.get(job_id, [])
            return points[-limit:] if limit else []

    def metrics_since(self, job_id: str | None, seq: int, limit: int) -> list[dict]:
        """A job's metric events with a seq above `seq`, oldest first, at most `limit`."""
        with self._lock:
            points = self._metrics.get(job_id, [])
            start = bisect.bisect_right(points, seq, key=_seq)
            return points[start:start + limit]

    def _keep_metric(self, event: dict) -> None:
        points = self._metrics.setdefault(event["job_id"], [])
        points.append(event)
        if len(points) > METRICS_PER_JOB:
            del points[:METRICS_PER_JOB // 10]
        while len(self._metrics) > METRIC_JOBS:
            del self._metrics[next(iter(self._metrics))]


def _seq(event: dict) -> int:
    return event["seq"]
