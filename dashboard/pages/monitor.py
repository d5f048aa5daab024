"""Monitor: live charts, progress and controls of the running (or last) job; earlier runs too.

Everything comes from the daemon (it may be on another machine): the runs from `runs`, one run's
state, pre-flight and outputs from `run`, and every step it logged from `run_metrics`
(dashboard/components/metric_store.py), fetched after a cursor once a second. Charts are generic
over numeric metric fields (dashboard/components/metric_charts.py): training draws loss, learning
rate and gradient norm.
"""
from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from dashboard.components.metric_charts import chart_groups, figure, latest
from dashboard.components.metric_store import run_metrics
from dashboard.components.preflight import render_preflight
from dashboard.connection import require_client
from shared.cli.util import format_seconds
from shared.errors import StudioError

LIVE = "live"
MONITORED = ("train", "selftest")  # the kinds that log metric points; the selector lists their runs
SELECT_KEY, SHOWN_KEY = "monitor.job", "monitor.shown_states"
ENDED = ("stopped", "cancelled", "interrupted")

st.title("Monitor")
st.caption("Loss, learning rate and gradient norm as training runs; stop, save or sample from here.")
client = require_client()


def list_runs() -> dict[str, dict] | None:
    """Runs of this daemon and of earlier ones that log metrics, newest first (id -> summary)."""
    try:
        return {r["id"]: r for r in client.request("runs", {"kinds": list(MONITORED)})["runs"]}
    except StudioError as err:
        st.error(f"Lost the daemon: {err}")
        return None


def run_label(run_id: str, runs: dict[str, dict]) -> str:
    if run_id == LIVE:
        return "Live: the running or last job"
    run = runs[run_id]
    best = f" · best loss {run['best_loss']:.4g}" if run.get("best_loss") is not None else ""
    kind = "" if run["kind"] == "train" else f" · {run['kind']}"
    return f"{run_id}{kind} · {run['state']}{best}"


def render_progress(run: dict, points: list[dict]) -> None:
    """Progress bar with ETA, and the newest step time, throughput, memory and loss."""
    progress = run.get("progress") or {}
    eta = latest(points, "eta_s") if run["kind"] == "train" else None
    eta = eta if eta is not None else progress.get("eta_s")
    st.progress(min(1.0, float(progress.get("fraction") or 0.0)),
                text=f"{run['kind']} {run['id']}: {progress.get('message') or 'starting'} · ETA {format_seconds(eta)}")
    step_time, rate, memory, loss = (latest(points, f) for f in ("step_time", "samples_per_s", "memory_mb", "loss"))
    cols = st.columns(5)
    cols[0].metric("Step", f"{progress.get('done', 0)}/{progress.get('total', 0)}")
    cols[1].metric("Loss", "–" if loss is None else f"{loss:.4f}")
    cols[2].metric("Step time", "–" if step_time is None else f"{step_time:.2f} s")
    cols[3].metric("Samples/s", "–" if rate is None else f"{rate:.2f}")
    cols[4].metric("Memory", "–" if memory is None else f"{memory / 1024:.2f} GB")


def render_controls(run: dict) -> None:
    """Stop (the job saves first), and the actions the job's kind declares (save now, sample now)."""
    c1, c2, c3, _ = st.columns([1, 1, 1, 2])
    if c1.button("Stop (saves first)", key=f"monitor.stop.{run['id']}"):
        act(lambda: client.stop(run["id"]), "Stop requested: the job saves, then ends.")
    if "save_now" in run.get("actions", []) and c2.button("Save now", key=f"monitor.save.{run['id']}"):
        act(lambda: client.action("save_now", run["id"]), "Save requested: a checkpoint after this step.")
    if "sample_now" in run.get("actions", []) and c3.button("Sample now", key=f"monitor.sample.{run['id']}"):
        act(lambda: client.action("sample_now", run["id"]), "Samples requested: clips after this step (Samples page).")


def act(fn: Callable[[], object], success: str) -> None:
    """Run a control's request; its error in the page, else a toast."""
    try:
        fn()
    except StudioError as err:
        st.error(str(err))
        return
    st.toast(success)


def render_outcome(run: dict) -> None:
    """A finished run's end: its error, its stop, or where its adapter is."""
    state, result = run.get("state"), run.get("result") or {}
    if state == "failed":
        st.error(f"{run['id']} failed: {run.get('error')}")
    elif state in ENDED:
        why = " (the daemon ended while it ran)" if state == "interrupted" else ""
        st.warning(f"{run['id']} {state}{why}." + (f" Resumable from {run['resume_from']}."
                                                   if run.get("resume_from") else " No checkpoint to resume from."))
    elif state == "done":
        st.success(f"{run['id']} done" + (f": {result['global_step']} steps, outcome {result.get('outcome')}."
                                          if "global_step" in result else ".")
                   + (f" Adapter: {run['final']}" if run.get("final") else ""))
    elif state == "queued":
        st.info(f"{run['id']} is queued.")
    render_preflight(run)
    render_outputs(run)


def render_outputs(run: dict) -> None:
    """The run's adapters: final/, best/ and the checkpoints kept, with their epochs."""
    found = run.get("outputs") or []
    if found:
        st.caption("Outputs: " + " · ".join(
            o["name"] + (f" (epoch {o['epoch']})" if o.get("epoch") is not None else "") for o in found)
            + f"  (in {run['run_dir']})")


def render_charts(points: list[dict], key: str, resumed_at: int | None = None) -> None:
    """Loss, learning rate, gradient norm (and any other numeric field) side by side; performance
    charts folded away. A resumed run's charts mark the step it resumed after."""
    if not points:
        st.info("No metrics yet for this job (training reports them from its first step).")
        return
    groups = chart_groups(points)
    cols = st.columns(2)
    for i, (title, fields) in enumerate(groups):
        cols[i % 2].plotly_chart(mark_resume(figure(title, points, fields), resumed_at), key=f"{key}.{title}")
    performance = [g for g in chart_groups(points, performance=True) if g not in groups]
    if performance:
        with st.expander("Step time, samples/s, memory, padding"):
            for title, fields in performance:
                st.plotly_chart(figure(title, points, fields, height=220), key=f"{key}.perf.{title}")


def mark_resume(fig: go.Figure, step: int | None) -> go.Figure:
    if step is not None:
        fig.add_vline(x=step, line_dash="dot", line_color="grey", annotation_text="resumed")
    return fig


def follow(run_id: str | None, runs: dict[str, dict]) -> None:
    """One run (None: the job running now, of any kind, else the newest run listed, from this
    daemon or an earlier one): its progress and controls while it runs, its outcome after, and its
    charts. Once its state differs from the one the job selector shows (or it is new), the whole
    page reruns, so the selector says it too and the newest run is listed."""
    try:
        if run_id is None:
            run_id = (client.status(metrics_limit=0).get("running") or {}).get("id") or next(iter(runs), None)
        if run_id is None:
            st.info("No job has run yet. Start one on the Train page.")
            return
        run = client.request("run", {"run_id": run_id})["run"]
        metrics = run_metrics(client, run, runs)
    except StudioError as err:
        st.error(f"Lost the daemon: {err}")
        return
    if run["state"] == "running":
        render_progress(run, metrics.points)
        render_controls(run)
        render_preflight(run)
    else:
        render_outcome(run)
    render_charts(metrics.all_points, f"run.{run['id']}", run.get("resumed_at_step") if metrics.earlier else None)
    shown = st.session_state.get(SHOWN_KEY)
    if shown is not None and run["kind"] in MONITORED and shown.get(run["id"]) != run["state"]:
        st.rerun(scope="app")


listed = list_runs()
runs = listed or {}
st.session_state[SHOWN_KEY] = None if listed is None else {run_id: run["state"] for run_id, run in runs.items()}
selected = st.selectbox("Job", [LIVE, *runs], key=SELECT_KEY, format_func=lambda j: run_label(j, runs))
chosen = None if selected == LIVE else selected
active = chosen is None or runs[chosen]["state"] in ("queued", "running")
st.fragment(run_every=1.0 if active else None)(follow)(chosen, runs)
