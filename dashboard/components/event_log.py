"""The Service page's event log: the daemon's events as sentences a person reads, one line per
thing that happened.

Metric and GPU samples are left out (the charts show them), and so are progress events (the Jobs
table shows each job's progress); an event that repeats the line before it only counts up
("×3") instead of adding a line. Events are kept by `seq`, so none is shown twice.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from shared.errors import StudioError

ROWS = 200
LOG_KEY, SEQ_KEY, SESSION_KEY = "event_log", "event_log_seq", "event_log_session"
LEFT_OUT = ("metric", "gpu", "progress")
COLUMNS = ["time", "job", "event"]


def percent(fraction: Any) -> str:
    """A share as the dashboard writes every progress figure: a whole percentage."""
    return f"{float(fraction or 0.0) * 100:.0f}%"


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _preflight(d: dict) -> str:
    return (f"pre-flight: {d.get('train_samples')} samples, {d.get('total_steps')} steps, {d.get('adapter')} "
            f"with {d.get('trainable_parameters', 0):,} trainable parameters on {d.get('device')}"
            + "".join(f"; {note}" for note in [*(d.get("notes") or []), *(d.get("facts") or [])]))


DESCRIBE: dict[str, Callable[[dict], str]] = {
    "job_state": lambda d: f"{d.get('kind')} {d.get('state')}"
    + (f": {(d.get('error') or {}).get('evalue')}" if d.get("state") == "failed" else ""),
    "job_stopping": lambda d: "stop requested: saving first",
    "log": lambda d: str(d.get("message", "")),
    "error": lambda d: f"{d.get('ename')}: {d.get('evalue')}",
    "train_preflight": _preflight,
    "checkpoint_saved": lambda d: f"checkpoint saved at epoch {d.get('epoch')}, step {d.get('step')}: {d.get('path')}",
    "best_model": lambda d: f"best model so far at epoch {d.get('epoch')} (5-epoch loss {_number(d.get('loss_ma5'))})",
    "resumed": lambda d: f"resumed at epoch {d.get('epoch')}, step {d.get('step')} from {d.get('path')}",
    "train_finished": lambda d: f"training {d.get('outcome')} after {d.get('global_step')} steps"
    + (f"; adapter in {d['final']}" if d.get("final") else ""),
    "early_stop": lambda d: f"early stop at epoch {d.get('epoch')} (no better loss for {d.get('patience')} epochs)",
    "nan_halt": lambda d: f"halted: {d.get('diagnosis')}",
    "file_error": lambda d: f"skipped {d.get('file')}: {d.get('reason')}",
    "memory": lambda d: f"memory {d.get('stage')}",
    "gpu_alert": lambda d: str(d.get("message", "")),
    "daemon_started": lambda d: f"daemon started (pid {d.get('pid')})",
    "daemon_stopping": lambda d: "daemon stopping",
}


def describe(event: dict) -> str:
    """One event as a sentence; an unknown type as its name and plain fields (nested ones left out)."""
    data = event.get("data") or {}
    known = DESCRIBE.get(event["type"])
    if known is not None:
        return known(data)
    fields = ", ".join(f"{k} {_number(v)}" for k, v in data.items() if not isinstance(v, (dict, list)))
    return event["type"].replace("_", " ") + (f": {fields}" if fields else "")


def new_rows(events: list[dict], rows: list[dict], after_seq: int) -> int:
    """Add the events after `after_seq` to `rows` (a repeat of the last row counts up); the newest seq."""
    for event in events:
        if event["seq"] <= after_seq:
            continue
        after_seq = event["seq"]
        if event["type"] in LEFT_OUT:
            continue
        row = {"time": time.strftime("%H:%M:%S", time.localtime(event["time"])), "job": event.get("job_id") or "",
               "event": describe(event), "count": 1}
        last = rows[-1] if rows else None
        if last and (last["job"], last["event"]) == (row["job"], row["event"]):
            last["count"] += 1
            last["time"] = row["time"]
        else:
            rows.append(row)
    del rows[:-ROWS]
    return after_seq


def render_event_log(client: Any, daemon_session: str) -> None:
    """The newest events, newest first; kept across reruns, started afresh for a new daemon."""
    st.subheader("Event log")
    rows: list[dict] = st.session_state.setdefault(LOG_KEY, [])
    if st.session_state.get(SESSION_KEY) != daemon_session:
        rows.clear()
        st.session_state[SEQ_KEY] = 0
        st.session_state[SESSION_KEY] = daemon_session
    try:
        events = client.events(st.session_state.get(SEQ_KEY, 0), 1000)
    except StudioError as err:
        st.error(f"No events: {err}")
        events = []
    st.session_state[SEQ_KEY] = new_rows(events, rows, st.session_state.get(SEQ_KEY, 0))
    shown = [{**r, "event": r["event"] + (f"  (×{r['count']})" if r["count"] > 1 else "")} for r in reversed(rows)]
    st.dataframe(pd.DataFrame(shown, columns=COLUMNS), hide_index=True, width="stretch")
