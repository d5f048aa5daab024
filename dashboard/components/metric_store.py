"""The Monitor page's metric points, kept in `st.session_state` so charts survive page changes.

Live job (the running one, or the last one): seeded from the status snapshot's `metrics` (the
daemon's ring buffer, so a page opened late draws the whole run), then extended each second with
`client.events(since=last_seq)`. Entries are keyed by daemon session and job id, so a restarted
daemon or a new job starts a fresh chart; a gap (events dropped from the ring buffer while the
page was away) re-seeds from the snapshot, merged by `seq`.

Finished job: read once from its run folder (`metrics.jsonl`: every step), else from the
daemon's `job_events`, else from `events.jsonl` on disk (a run of an earlier daemon session).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from shared.errors import StudioError

LIVE_KEY, FINISHED_KEY = "monitor.live", "monitor.finished"
MAX_POINTS = 50_000
KEEP_JOBS = 4
EVENTS_PER_CALL = 5000


@dataclass
class JobMetrics:
    """The points of one job (each a metric event's data plus its `seq`) and the newest seq read."""

    job_id: str
    points: list[dict] = field(default_factory=list)
    last_seq: int = 0

    def merge(self, events: list[dict]) -> None:
        """Add this job's metric events, ignoring ones already held (by seq), in seq order."""
        have = {p.get("seq") for p in self.points}
        new = [{**(e.get("data") or {}), "seq": e["seq"]} for e in events
               if e.get("type") == "metric" and e.get("job_id") == self.job_id and e["seq"] not in have]
        if not new:
            return
        newest = self.points[-1]["seq"] if self.points else 0
        self.points.extend(new)
        if new[0]["seq"] < newest:
            self.points.sort(key=lambda p: p["seq"])
        del self.points[:-MAX_POINTS]


def live_metrics(client: Any, snapshot: dict, run_dir: str | None = None) -> JobMetrics | None:
    """The points of the snapshot's metrics job, brought up to date; None when there is no job.

    A long run's first points may have left the snapshot's ring buffer: on seeding, the steps
    before the snapshot's first one are read from the run folder's metrics.jsonl (`run_dir`).
    """
    job_id = snapshot.get("metrics_job")
    if not job_id:
        return None
    store: dict[str, JobMetrics] = st.session_state.setdefault(LIVE_KEY, {})
    key = f"{snapshot['daemon_session']}:{job_id}"
    entry = store.get(key)
    if entry is None:
        entry = store[key] = JobMetrics(job_id)
        for old in list(store)[:-KEEP_JOBS]:
            del store[old]
        entry.merge(snapshot.get("metrics") or [])
        entry.last_seq = snapshot["last_seq"]
        if run_dir:
            entry.points[:0] = earlier_points(Path(run_dir) / "metrics.jsonl", entry.points)
        return entry
    events = client.events(entry.last_seq, EVENTS_PER_CALL)
    if events and events[0]["seq"] > entry.last_seq + 1:
        entry.merge(snapshot.get("metrics") or [])  # the ring buffer moved on: refill from the snapshot
    entry.merge(events)
    entry.last_seq = max([entry.last_seq, *(e["seq"] for e in events)])
    return entry


def earlier_points(metrics_file: Path, points: list[dict]) -> list[dict]:
    """The points of metrics.jsonl older than the first of `points` (by step), with seq 0."""
    first = next((p["step"] for p in points if isinstance(p.get("step"), (int, float))), None)
    if first is None or first <= 1 or not metrics_file.is_file():
        return []
    return [{**p, "seq": 0} for p in _read_jsonl(metrics_file)
            if isinstance(p.get("step"), (int, float)) and p["step"] < first]


def finished_metrics(client: Any, job: dict) -> list[dict]:
    """A finished job's metric points, read once and kept for the session."""
    store: dict[str, list[dict]] = st.session_state.setdefault(FINISHED_KEY, {})
    key = f"{job['id']}:{job.get('ended_at')}"
    if key not in store:
        for old in list(store)[:-KEEP_JOBS]:
            del store[old]
        store[key] = read_job_metrics(client, job)
    return store[key]


def read_job_metrics(client: Any, job: dict) -> list[dict]:
    """Every metric point of a job: metrics.jsonl, else the daemon's job_events, else events.jsonl."""
    run_dir = Path(job.get("run_dir") or "")
    metrics_file = run_dir / "metrics.jsonl"
    if job.get("run_dir") and metrics_file.is_file():
        return _read_jsonl(metrics_file)
    events: list[dict] = []
    try:
        since = 0
        while True:
            batch = client.request("job_events", {"job_id": job["id"], "since": since})["events"]
            events += batch
            if len(batch) < EVENTS_PER_CALL:
                break
            since = batch[-1]["seq"]
    except StudioError:  # a job of an earlier daemon: its events file is still on disk
        events = _read_jsonl(run_dir / "events.jsonl") if job.get("run_dir") else []
    return [{**(e.get("data") or {}), "seq": e.get("seq")} for e in events if e.get("type") == "metric"]


def _read_jsonl(path: Path) -> list[dict]:
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a line cut short by a kill: the rest still reads
    except OSError:
        return []
    return out


def runs_on_disk(home: str | Path, kinds: tuple[str, ...] = ("train",)) -> list[dict]:
    """Job summaries (`job.json`) of earlier runs in the studio home, newest first."""
    out = []
    for path in sorted(Path(home).glob("runs/*/job.json"), reverse=True):
        try:
            job = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(job, dict) and job.get("kind") in kinds and job.get("id"):
            job.setdefault("run_dir", str(path.parent))
            out.append(job)
    return out
