"""Preprocess: choose a dataset and an output folder, set the options, start, follow it, see the files.

The options form comes from `PreprocessSettings` (the settings registry); the job runs in the
daemon, which also checks the dataset file and reads the produced and skipped files from the
folder's manifest.json (the `tensors` command): the paths are the daemon machine's, and the page
works against a daemon on another machine.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.components import dataset_state
from dashboard.connection import require_client
from dashboard.forms import settings_form
from dashboard.workflow import mark_done
from shared.cli.util import format_seconds
from shared.client import FINISHED
from shared.errors import StudioError
from shared.preprocess_settings import PreprocessSettings

JOB_KEY = "preprocess.job_id"
DATASET_KEY, OUTPUT_KEY = "preprocess.dataset", "preprocess.output_dir"

st.title("Preprocess")
st.caption("Audio and labels to training tensors: one file per sample, a manifest, resumable.")
client = require_client()


# manifest row key -> the column header people read (and the skipped files' table)
FILE_COLUMNS = {"file": "Tensor file", "source": "Audio", "duration_s": "Seconds", "frames": "Latent frames",
                "condition_tokens": "Condition tokens", "text_tokens": "Text tokens",
                "lyric_tokens": "Lyric tokens", "loudness": "Loudness", "mb": "Size (MB)"}
ERROR_COLUMNS = {"file": "Audio", "reason": "Why it was skipped"}


def default_paths() -> tuple[str, str]:
    """The open dataset's file (or the one last opened in this dashboard) and a `tensors` folder
    beside it."""
    dataset = dataset_state.current_path() or dataset_state.remembered_path() or ""
    output = str(Path(dataset).parent / "tensors") if dataset else ""
    return dataset, output


def render_inputs() -> dict:
    dataset_default, output_default = default_paths()
    for key, default in ((DATASET_KEY, dataset_default), (OUTPUT_KEY, output_default)):
        if not st.session_state.get(key):  # fill blanks; never overwrite what the user typed
            st.session_state[key] = default
    c1, c2 = st.columns(2)
    dataset = c1.text_input("Dataset file", key=DATASET_KEY, help=PreprocessSettings.spec("dataset").help)
    output = c2.text_input("Output folder", key=OUTPUT_KEY, help=PreprocessSettings.spec("output_dir").help)
    if dataset_state.is_dirty() and dataset and dataset == dataset_state.current_path():
        st.warning("The Dataset page has unsaved changes; save them first or they are not preprocessed.")
    values = settings_form(PreprocessSettings, key="preprocess", exclude=("dataset", "output_dir"))
    return {**values, "dataset": dataset.strip(), "output_dir": output.strip()}


def start(values: dict) -> None:
    try:
        settings = PreprocessSettings.from_dict(values)
        settings.require_paths()
        st.session_state[JOB_KEY] = client.submit("preprocess", settings.to_dict())
    except StudioError as err:
        st.error(str(err))
        return
    st.toast("Preprocessing queued.")


def render_job(job: dict) -> None:
    """Progress bar with count, current file, rate and ETA; a stop button while running."""
    progress = job.get("progress") or {}
    state = job["state"]
    if state in ("queued", "running"):
        done, total = progress.get("done", 0), progress.get("total", 0)
        rate = progress.get("files_per_s") or 0.0
        text = (f"{done}/{total} · {progress.get('current') or 'loading models'} · {rate:.2f} files/s · "
                f"ETA {format_seconds(progress.get('eta_s'))}" if state == "running" else "queued")
        st.progress(min(1.0, float(progress.get("fraction") or 0.0)), text=text)
        if state == "running" and st.button("Stop (finishes the current file)", key="preprocess.stop"):
            try:
                client.stop(job["id"])
            except StudioError as err:
                st.error(str(err))
        return
    result = job.get("result") or {}
    if state == "failed":
        st.error(f"Preprocessing failed: {(job.get('error') or {}).get('evalue')}")
    elif state == "stopped":
        st.warning(f"Stopped after {result.get('written', 0)} new file(s); start again to resume.")
    else:
        mark_done("Preprocess")
        failed = len(result.get("failed") or [])
        st.success(f"Done: {result.get('written', 0)} written, {result.get('skipped_existing', 0)} already there, "
                   f"{failed} skipped with errors, in {format_seconds(result.get('seconds'))}.")


def render_folder(folder: str) -> None:
    """The produced files (duration, frames, tokens) and the skipped ones, from the manifest, as the
    daemon reads them on its machine; nothing for a folder not written yet."""
    if not folder:
        return
    try:
        found = client.request("tensors", {"folder": folder, "missing_ok": True})
    except StudioError as err:
        st.error(str(err))
        return
    if found["kind"] is None:
        return
    for warning in found.get("warnings") or []:
        st.warning(warning)
    fingerprint = f" ({str(found['fingerprint'])[:12]})" if found.get("fingerprint") else ""
    st.subheader("Tensors")
    st.caption(f"{folder} · model {found.get('model') or 'unknown'}{fingerprint} · "
               f"{len(found['samples'])} file(s)" + (" · complete" if found.get("complete") else ""))
    if found["kind"] != "studio":  # a folder another tool wrote: its files, without our columns
        st.dataframe(pd.DataFrame(found["samples"]), hide_index=True, width="stretch", placeholder="")
        return
    rows = found["samples"]
    for row in rows:
        loudness = row.pop("loudness") or {}
        row["loudness"] = f"{loudness.get('mode', '')} {loudness.get('gain_db', 0):+.1f} dB" if loudness else ""
    files = pd.DataFrame(rows, columns=list(FILE_COLUMNS)).rename(columns=FILE_COLUMNS)
    st.dataframe(files.astype({"Seconds": "Float64"}), hide_index=True, width="stretch", placeholder="",
                 column_config={"Seconds": st.column_config.NumberColumn(format="%.1f")})
    errors = found["errors"]
    if errors:
        st.markdown(f"**Skipped ({len(errors)})**")
        skipped = pd.DataFrame(errors, columns=list(ERROR_COLUMNS)).rename(columns=ERROR_COLUMNS)
        st.dataframe(skipped, hide_index=True, width="stretch", placeholder="")


def live(output_dir: str) -> None:
    job_id = st.session_state.get(JOB_KEY)
    job = None
    if job_id:
        try:
            job = client.job(job_id)
        except StudioError as err:
            st.info(f"The last job is no longer known to the daemon ({err}).")
            st.session_state.pop(JOB_KEY, None)
    if job is not None:
        render_job(job)
        if job["state"] in FINISHED and st.session_state.pop("preprocess.polling", False):
            st.rerun()  # a full rerun turns the once-a-second polling off
        output_dir = (job.get("result") or {}).get("output_dir") or output_dir
    render_folder(output_dir)


values = render_inputs()
if st.button("Start preprocessing", type="primary", key="preprocess.start"):
    start(values)
active = False
if st.session_state.get(JOB_KEY):
    try:
        active = client.job(st.session_state[JOB_KEY])["state"] not in FINISHED
    except StudioError:
        active = False
st.session_state["preprocess.polling"] = active
st.fragment(run_every=1.0 if active else None)(live)(values["output_dir"])
