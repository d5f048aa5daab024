"""The event bus: every event gets the next `seq`, lands in ring buffers and goes out on PUB.

Jobs emit from their worker thread; the server's socket loop drains `outbox` and publishes, so
the PUB socket is only touched by one thread. Events of a job are also appended to its
`events.jsonl` before they are published, so the file is the complete record.
"""
from __future__ import annotations

import collections
import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

RECENT_EVENTS = 4000
RECENT_METRICS = 2000


class EventBus:
    def __init__(self, daemon_session: str) -> None:
        self.daemon_session = daemon_session
        self.outbox: queue.SimpleQueue[dict] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._seq = 0
        self._recent: collections.deque[dict] = collections.deque(maxlen=RECENT_EVENTS)
        self._metrics: collections.deque[dict] = collections.deque(maxlen=RECENT_METRICS)
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
        """Record and queue one event; returns it (with its seq)."""
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
            if log_path is not None:
                with open(log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(event, default=str) + "\n")
            self._recent.append(event)
            if type == "metric":
                self._metrics.append(event)
            self.outbox.put(event)
        if self.wakeup is not None:
            self.wakeup()
        return event

    def since(self, seq: int, limit: int = 1000) -> list[dict]:
        """Events with a seq above `seq` still in the ring buffer (oldest first)."""
        with self._lock:
            return [e for e in self._recent if e["seq"] > seq][:limit]

    def recent_metrics(self, job_id: str | None = None, limit: int = RECENT_METRICS) -> list[dict]:
        with self._lock:
            points = [e for e in self._metrics if job_id is None or e["job_id"] == job_id]
        return points[-limit:]
