"""Service: the daemon (connected or not), the job queue with cancel and stop, the live event log."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.components.event_log import percent, render_event_log
from dashboard.components.models_panel import render_models_panel
from dashboard.connection import lifecycle_note, require_client
from shared.cli.util import format_seconds
from shared.errors import StudioError

st.title("Service")
client = require_client()


def render_daemon(snapshot: dict) -> None:
    device = snapshot.get("device") or {}
    cols = st.columns(4)
    cols[0].metric("Daemon", "connected")
    cols[1].metric("PID", snapshot["pid"])
    cols[2].metric("Uptime", format_seconds(snapshot["uptime_s"]))
    resolved = device.get("resolved", True)
    cols[3].metric("Device", str(device.get("device", "?")),
                   help=None if resolved else "Chosen when a model is first loaded.")
    st.caption(f"Studio home: {snapshot['home']}  ·  session {snapshot['daemon_session'][:8]}  ·  "
               f"{lifecycle_note(snapshot)}")


def render_queue(snapshot: dict) -> None:
    st.subheader("Jobs")
    running = snapshot.get("running")
    if running:
        progress = running.get("progress") or {}
        eta = format_seconds(progress.get("eta_s"))
        st.progress(min(1.0, float(progress.get("fraction") or 0.0)),
                    text=f"{running['kind']} {running['id']}: {percent(progress.get('fraction'))} · "
                         f"{progress.get('message', '')} · ETA {eta}")
        c1, c2 = st.columns(2)
        if c1.button("Stop (saves first)", key=f"stop.{running['id']}"):
            _act(lambda: client.stop(running["id"]), "Stop requested: the job saves, then ends.")
        if "save_now" in running.get("actions", []) and c2.button("Save now", key=f"save.{running['id']}"):
            _act(lambda: client.action("save_now", running["id"]), "Save requested.")
    else:
        st.info("No job is running.")
    for job in snapshot.get("queue", []):
        c1, c2 = st.columns([4, 1])
        c1.write(f":material/hourglass_empty: {job['kind']} · {job['id']}")
        if c2.button("Cancel", key=f"cancel.{job['id']}"):
            _act(lambda job=job: client.cancel(job["id"]), f"Cancelled {job['id']}.")
    jobs = client.jobs()
    if jobs:
        table = pd.DataFrame([{
            "id": j["id"], "kind": j["kind"], "state": j["state"],
            "progress": round(float((j.get("progress") or {}).get("fraction") or 0.0) * 100),
            "error": (j.get("error") or {}).get("evalue", ""),
        } for j in reversed(jobs)])
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=100, format="%d%%")})
    with st.expander("Check the whole path: run a selftest job"):
        steps = st.number_input("Steps", 1, 10_000, 20, key="selftest.steps")
        if st.button("Run selftest", key="selftest.run"):
            _act(lambda: client.submit("selftest", {"steps": int(steps)}), "Selftest queued.")


def _act(fn, success: str) -> None:
    try:
        fn()
        st.toast(success)
    except StudioError as err:
        st.error(str(err))


@st.fragment(run_every=1.0)
def live() -> None:
    """Redrawn every second: the snapshot, the queue and the newest events."""
    try:
        snapshot = client.status(metrics_limit=0)  # this page draws no chart
    except StudioError as err:
        st.error(f"Lost the daemon: {err}")
        return
    render_daemon(snapshot)
    render_queue(snapshot)
    render_event_log(client, snapshot["daemon_session"])


live()
render_models_panel(client)
