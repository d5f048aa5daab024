"""Export: take an adapter out of the studio. Pick a run and one of its outputs (final/, best/, a
checkpoint), then export it for ComfyUI or copy its files (SM-5), or merge it into the base DiT as
a new checkpoint (SM-4). Both run as daemon jobs; what they wrote is listed below.
"""
from __future__ import annotations

import streamlit as st

from dashboard.components.run_picker import adapter_outputs, output_label, pick_run
from dashboard.connection import followed_job, require_client
from dashboard.forms import settings_form
from shared.client import FINISHED
from shared.errors import SettingsError, StudioError
from shared.export_settings import ExportSettings, MergeSettings

RUN_KEY, OUTPUT_KEY, JOB_KEY = "export.run", "export.output", "export.job"

st.title("Export")
st.caption("An adapter for ComfyUI or any folder, or merged into the base model as a new checkpoint.")
client = require_client()


def submit(kind: str, group: type, values: dict) -> None:
    try:
        settings = group.from_dict(values)
        st.session_state[JOB_KEY] = client.submit(kind, settings.to_dict())
    except (SettingsError, StudioError) as err:
        st.error(str(err))


def render_forms(adapter: str) -> None:
    export_tab, merge_tab = st.tabs(["Export the adapter", "Merge into a checkpoint"])
    with export_tab, st.form("export.export"):
        values = settings_form(ExportSettings, key="export.exp", exclude=("adapter",))
        if st.form_submit_button("Export", type="primary"):
            submit("export", ExportSettings, {**values, "adapter": adapter})
    with merge_tab, st.form("export.merge"):
        values = settings_form(MergeSettings, key="export.mrg", exclude=("adapter",))
        if st.form_submit_button("Merge", type="primary"):
            submit("merge", MergeSettings, {**values, "adapter": adapter})


@st.fragment(run_every=1.0)
def render_job() -> None:
    """The export or merge job started here: progress, then what it wrote or why it failed."""
    job = followed_job(client, JOB_KEY)
    if job is None:
        return
    if job["state"] not in FINISHED:
        progress = job.get("progress") or {}
        st.progress(min(1.0, float(progress.get("fraction") or 0.0)),
                    text=f"{job['kind']}: {progress.get('message') or job['state']}")
    elif job["state"] == "done":
        files = (job.get("result") or {}).get("files", [])
        st.success(f"{job['kind']} done: " + ", ".join(files))
    else:
        st.error(f"{job['kind']} {job['state']}: {(job.get('error') or {}).get('evalue', '')}")


def render_written() -> None:
    """Every merge and export that ended done, with the files it wrote."""
    try:
        runs = client.request("runs", {"kinds": ["export", "merge"]})["runs"]
    except StudioError as err:
        st.error(str(err))
        return
    done = [r for r in runs if r["state"] == "done"]
    if done:
        st.subheader("Written")
        for r in done:
            for path in (r.get("result") or {}).get("files", []):
                st.caption(f"{r['kind']} · {r['id']}: `{path}`")


run = pick_run(client, ["train"], RUN_KEY, label="Training run")
if run is None:
    st.info("No training runs yet: train an adapter on the Train page first.")
    st.stop()
outputs = adapter_outputs(run)
if not outputs:
    st.info("This run has no adapter to export yet (final/, best/ or a checkpoint appear as it trains).")
else:
    labels = {o["path"]: output_label(o) for o in outputs}
    adapter = st.radio("Adapter", list(labels), format_func=labels.get, key=f"{OUTPUT_KEY}.{run['id']}")
    render_forms(adapter)
render_job()
render_written()
