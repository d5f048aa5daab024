"""The Monitor page's metric points, kept in `st.session_state` so charts survive page changes.

Every point comes from the daemon's `run_metrics` command (daemon/runs.py): each step a run
logged (metrics.jsonl), read after a cursor, so a page fetches only what is new and never misses
a step, whether it was open all along or opened late, and whatever the event stream dropped.
The dashboard never opens a run folder itself: the daemon may be on another machine.

A resumed run's chart starts with the steps of the run it resumed from (`earlier`), up to the
checkpoint it took, so the curve reads as one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

STORE_KEY = "monitor.runs"
KEEP_RUNS = 6
MAX_CALLS = 50  # 50 x 5000 points per refresh at most; the rest comes with the next one
MAX_EARLIER_RUNS = 5


@dataclass
class RunMetrics:
    """The points of one run (each a metric line of the daemon) and the cursor to read on from."""

    run_id: str
    points: list[dict] = field(default_factory=list)
    cursor: str = ""
    earlier: list[dict] | None = None

    def fetch(self, client: Any) -> None:
        """Add the points logged since the last fetch (all of them, in as many requests as needed)."""
        for _ in range(MAX_CALLS):
            reply = client.request("run_metrics", {"run_id": self.run_id, "cursor": self.cursor})
            if reply.get("reset"):
                self.points = []
            self.points.extend(reply["points"])
            self.cursor = reply["cursor"]
            if not reply.get("more"):
                break

    @property
    def all_points(self) -> list[dict]:
        return (self.earlier or []) + self.points


def run_metrics(client: Any, run: dict, runs: dict[str, dict] | None = None) -> RunMetrics:
    """A run's points, brought up to date; `runs` (id -> summary) finds the runs it resumed from."""
    store: dict[str, RunMetrics] = st.session_state.setdefault(STORE_KEY, {})
    entry = store.pop(run["id"], None) or RunMetrics(run["id"])
    store[run["id"]] = entry  # most recently used last
    for old in list(store)[:-KEEP_RUNS]:
        del store[old]
    entry.fetch(client)
    if entry.earlier is None:
        entry.earlier = earlier_points(client, run, runs or {})
    return entry


def earlier_points(client: Any, run: dict, runs: dict[str, dict]) -> list[dict]:
    """The steps of the runs this one resumed from, each cut at the checkpoint the next one took."""
    chain: list[dict] = []
    current = run
    while (current.get("resumed_from_run") in runs and current.get("resumed_at_step") is not None
           and len(chain) < MAX_EARLIER_RUNS):
        chain.append(current)
        current = runs[current["resumed_from_run"]]
    points: list[dict] = []
    for child in reversed(chain):
        parent = RunMetrics(child["resumed_from_run"])
        parent.fetch(client)
        points = [p for p in points if _step(p) <= child["resumed_at_step"]]
        points += [p for p in parent.points if _step(p) <= child["resumed_at_step"]]
    return points


def _step(point: dict) -> float:
    step = point.get("step")
    return step if isinstance(step, (int, float)) else 0
