"""Monitor: live charts, progress and controls of the running (or last) job; finished runs too.

Live view: the status snapshot seeds the charts (so a page opened late draws the whole run) and
the event stream extends them each second (dashboard/components/metric_store.py). A finished
run is read from its run folder. Charts are generic over numeric metric fields
(dashboard/components/metric_charts.py): training draws loss, learning rate and gradient norm.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from dashboard.components.metric_charts import chart_groups, figure, latest
from dashboard.components.metric_store import finished_metrics, live_metrics, runs_on_disk
from dashboard.connection import require_client
from shared.cli.util import format_seconds
from shared.client import FINISHED
from shared.errors import StudioError

LIVE = "live"
SELECT_KEY = "monitor.job"

st.title("Monitor")
st.caption("Loss, learning rate and gradient norm as training runs; stop, save or sample from here.")
client = require_client()


def job_choices() -> dict[str, dict]:
    """Training jobs of this daemon and earlier runs in the studio home, newest first."""
    jobs = {j["id"]: j for j in runs_on_disk(client.home)}
    for job in jobs.values():  # an earlier daemon's run left unfinished: that daemon ended under it
        if job.get("state") not in FINISHED:
            job["state"] = "interrupted"
    try:
        jobs.update({j["id"]: j for j in client.jobs() if j["kind"] == "train"})
    except StudioError as err:
        st.error(f"Lost the daemon: {err}")
    return dict(sorted(jobs.items(), reverse=True))  # job ids start with their date and time


def render_progress(job: dict, points: list[dict]) -> None:
    """Progress bar with ETA, and the newest step time, throughput, memory and loss."""
    progress = job.get("progress") or {}
    eta = latest(points, "eta_s") if job["kind"] == "train" else None
    eta = eta if eta is not None else progress.get("eta_s")
    st.progress(min(1.0, float(progress.get("fraction") or 0.0)),
                text=f"{job['kind']} {job['id']}: {progress.get('message') or 'starting'} · ETA {format_seconds(eta)}")
    step_time, rate, memory, loss = (latest(points, f) for f in ("step_time", "samples_per_s", "memory_mb", "loss"))
    cols = st.columns(5)
    cols[0].metric("Step", f"{progress.get('done', 0)}/{progress.get('total', 0)}")
    cols[1].metric("Loss", "–" if loss is None else f"{loss:.4f}")
    cols[2].metric("Step time", "–" if step_time is None else f"{step_time:.2f} s")
    cols[3].metric("Samples/s", "–" if rate is None else f"{rate:.2f}")
    cols[4].metric("Memory", "–" if memory is None else f"{memory / 1024:.2f} GB")


def render_controls(job: dict) -> None:
    """Stop (the job saves first), and the actions the job's kind declares (save now, sample now)."""
    c1, c2, c3, _ = st.columns([1, 1, 1, 2])
    if c1.button("Stop (saves first)", key=f"monitor.stop.{job['id']}"):
        act(lambda: client.stop(job["id"]), "Stop requested: the job saves, then ends.")
    if "save_now" in job.get("actions", []) and c2.button("Save now", key=f"monitor.save.{job['id']}"):
        act(lambda: client.action("save_now", job["id"]), "Save requested: a checkpoint after this step.")
    if "sample_now" in job.get("actions", []) and c3.button("Sample now", key=f"monitor.sample.{job['id']}"):
        act(lambda: client.action("sample_now", job["id"]), "Samples requested: clips after this step (Samples page).")


def act(fn: Callable[[], object], success: str) -> None:
    """Run a control's request; its error in the page, else a toast."""
    try:
        fn()
    except StudioError as err:
        st.error(str(err))
        return
    st.toast(success)


def render_outcome(job: dict) -> None:
    """A finished job's end: its error, its stop, or where its adapter is."""
    state, result = job.get("state"), job.get("result") or {}
    if state == "failed":
        st.error(f"{job['id']} failed: {(job.get('error') or {}).get('evalue')}")
    elif state in ("stopped", "cancelled", "interrupted"):
        st.warning(f"{job['id']} {state}." + (f" Resumable from {result['last_checkpoint']}."
                                              if result.get("last_checkpoint") else ""))
    elif state == "done":
        st.success(f"{job['id']} done" + (f": {result['global_step']} steps, outcome {result.get('outcome')}."
                                          if "global_step" in result else "."))
    elif state == "queued":
        st.info(f"{job['id']} is queued.")
    render_preflight(job)
    render_outputs(job)


def render_preflight(job: dict) -> None:
    """What the run checked before its first step (config.json): data, memory, trigger word; its
    notes (such as a memory estimate above the free memory) as warnings."""
    try:
        preflight = json.loads((Path(job.get("run_dir") or "") / "config.json").read_text()).get("preflight") or {}
    except (OSError, ValueError, AttributeError):
        return
    if not preflight:
        return
    for note in preflight.get("notes") or []:
        st.warning(f"Pre-flight: {note}")
    estimate, free = preflight.get("memory_estimate_mb"), preflight.get("free_memory_mb")
    memory = f"memory about {estimate:.0f} MB" + (f" of {free:.0f} MB free" if free else "") if estimate else ""
    parts = [f"{preflight.get('train_samples')} samples" + (f" + {preflight['validation_samples']} held out"
                                                             if preflight.get("validation_samples") else ""),
             f"{preflight.get('steps_per_epoch')} steps/epoch, {preflight.get('total_steps')} in all",
             f"{preflight.get('adapter')} with {preflight.get('trainable_parameters', 0):,} trainable parameters",
             f"{preflight.get('device')} · {preflight.get('precision')}", memory,
             f"trigger word {preflight['trigger_word']!r}" if preflight.get("trigger_word") else ""]
    st.caption(" · ".join(p for p in parts if p))


def render_outputs(job: dict) -> None:
    """The run folder's adapters: final/, best/ and the checkpoints kept."""
    run = Path(job.get("run_dir") or "")
    if not job.get("run_dir") or not run.is_dir():
        return
    found = [p for p in (run / "final", run / "best") if p.is_dir()]
    checkpoints = run / "checkpoints"
    if checkpoints.is_dir():
        found += sorted(p for p in checkpoints.iterdir() if p.is_dir())
    if found:
        st.caption("Outputs: " + " · ".join(str(p.relative_to(run)) for p in found) + f"  (in {run})")


def render_charts(points: list[dict], key: str) -> None:
    """Loss, learning rate, gradient norm (and any other numeric field) side by side; performance
    charts folded away."""
    if not points:
        st.info("No metrics yet for this job (training reports them from its first step).")
        return
    groups = chart_groups(points)
    cols = st.columns(2)
    for i, (title, fields) in enumerate(groups):
        cols[i % 2].plotly_chart(figure(title, points, fields), key=f"{key}.{title}")
    performance = [g for g in chart_groups(points, performance=True) if g not in groups]
    if performance:
        with st.expander("Step time, samples/s, memory"):
            for title, fields in performance:
                st.plotly_chart(figure(title, points, fields, height=220), key=f"{key}.perf.{title}")


@st.fragment(run_every=1.0)
def live() -> None:
    """Redrawn every second: the running (or last) job's progress, controls and charts."""
    try:
        snapshot = client.status()
        job_id, running = snapshot.get("metrics_job"), snapshot.get("running")
        if not job_id:
            st.info("No job has run in this daemon yet. Start one on the Train page.")
            return
        job = running if running and running["id"] == job_id else client.job(job_id)
        entry = live_metrics(client, snapshot, job.get("run_dir"))
    except StudioError as err:
        st.error(f"Lost the daemon: {err}")
        return
    if job["state"] == "running":
        render_progress(job, entry.points)
        render_controls(job)
        render_preflight(job)
    else:
        render_outcome(job)
    render_charts(entry.points, "live")


def show_finished(job: dict) -> None:
    """A run that has ended: its outcome and every metric point from its run folder."""
    render_outcome(job)
    try:
        points = finished_metrics(client, job)
    except StudioError as err:
        st.error(str(err))
        return
    render_charts(points, f"run.{job['id']}")


choices = job_choices()
selected = st.selectbox("Job", [LIVE, *choices], key=SELECT_KEY,
                        format_func=lambda j: "Live: the running or last job" if j == LIVE
                        else f"{j} · {choices[j].get('state', '?')}")
if selected == LIVE or choices[selected].get("state") == "running":
    live()
else:
    show_finished(choices[selected])
