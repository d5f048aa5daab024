"""Captioner: label a folder or a dataset with ACE-Step's captioner, a cloud service or the signal
alone; follow the run; review each file's labels beside its audio and accept them into the dataset.

Paths are on the daemon's machine; the daemon reads the audio, runs the models and writes the
sidecars; this page only talks to it (`submit`, `job`, `caption_results`, `caption_audio`,
`caption_accept`). The settings form comes from CaptionSettings; the last settings used are saved
in the dashboard's own file and restored when the page opens (CA-5).
"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard.components.caption_review import render_review
from dashboard.connection import followed_job, require_client
from dashboard.forms import settings_form
from shared.caption_settings import CaptionSettings, load_caption_settings, save_caption_settings
from shared.client import FINISHED
from shared.errors import SettingsError, StudioError
from shared.home import studio_home

JOB_KEY, RUN_KEY, VALUES_KEY = "caption.job", "caption.run", "caption.values"

st.title("Captioner")
st.caption("Captions, key, tempo, time signature, genre and lyrics for every file of a folder or a dataset: "
           "ACE-Step's captioner and transcriber, its 5 Hz LM, Gemini, Whisper or ElevenLabs, or the signal "
           "alone.")
client = require_client()


def saved_values() -> dict:
    """The form's values: this session's, else those saved last time (the demo dataset at first)."""
    if VALUES_KEY not in st.session_state:
        values = load_caption_settings(studio_home())
        if not values.get("source"):
            demo = Path(os.environ.get("ACESTEP_DEMO_ROOT") or "./demo_assets").absolute() / "dataset"
            values["source"] = str(demo / "dataset.json")
        st.session_state[VALUES_KEY] = values
    return st.session_state[VALUES_KEY]


def render_form() -> None:
    values = saved_values()
    with st.form("caption.settings"):
        source = st.text_input("Folder or dataset", values.get("source", ""), key="caption.source",
                               help=CaptionSettings.spec("source").help + " A path on the daemon's machine.")
        chosen = settings_form(CaptionSettings, values, key="caption.form", exclude=("source",))
        run, save = st.columns(2)
        start = run.form_submit_button("Caption", type="primary")
        keep = save.form_submit_button("Save settings")
    if not (start or keep):
        return
    chosen["source"] = source.strip()
    st.session_state[VALUES_KEY] = chosen
    try:
        save_caption_settings(chosen, studio_home())
        if start:
            settings = CaptionSettings.from_dict(chosen)
            job_id = client.submit("caption", settings.to_dict())
            st.session_state[JOB_KEY] = job_id
            st.session_state[RUN_KEY] = job_id
        else:
            st.toast("Settings saved; the page opens with them next time.")
    except (SettingsError, StudioError) as err:
        st.error(str(err))


@st.fragment(run_every=1.5)
def render_job() -> None:
    """The running caption job: progress and Stop; the page reloads when it ends."""
    job = followed_job(client, JOB_KEY)
    if job is None:
        return
    if job["state"] not in FINISHED:
        progress = job.get("progress") or {}
        text = f"{job['state']}: {progress.get('done', 0)}/{progress.get('total', 0)} {progress.get('message', '')}"
        st.progress(min(1.0, float(progress.get("fraction") or 0.0)), text=text)
        if st.button("Stop", key="caption.stop", help="Stops after the current file; finished files are kept "
                                                         "and a new run resumes with the rest."):
            client.stop(job["id"])
        return
    st.session_state.pop(JOB_KEY)
    if job["state"] == "done":
        st.toast(f"Captioned {(job.get('result') or {}).get('captioned', 0)} file(s).")
    elif job.get("error"):
        st.session_state["caption.failed"] = f"Captioning {job['state']}: {job['error'].get('evalue', '')}"
    st.rerun(scope="app")


def caption_runs() -> list[dict]:
    try:
        jobs = client.jobs()
    except StudioError as err:
        st.error(str(err))
        return []
    return sorted((j for j in jobs if j.get("kind") == "caption"), key=lambda j: j.get("submitted_at") or 0,
                  reverse=True)


def render_results() -> None:
    runs = caption_runs()
    if not runs:
        st.info("No caption runs yet: choose a folder or a dataset above and press Caption.")
        return
    by_id = {r["id"]: r for r in runs}
    wanted = st.session_state.get(RUN_KEY)
    ids = list(by_id)
    run_id = st.selectbox("Caption run", ids, index=ids.index(wanted) if wanted in ids else 0,
                          format_func=lambda i: f"{i} · {by_id[i]['state']}")
    st.session_state[RUN_KEY] = run_id
    result = by_id[run_id].get("result") or {}
    for failure in result.get("failed") or []:
        st.warning(f"{failure['file']}: {failure['error']}")
    notes = result.get("notes") or []
    if notes:  # what providers said of their answers: a song cut to the LM's context, lyrics it invented
        with st.expander(f"Notes on {len(notes)} answer(s)", expanded=len(notes) <= 3):
            st.markdown("\n".join(f"- {n['file']}: {n['note']}" for n in notes))
    try:
        results = client.caption_results(run_id)
    except StudioError as err:
        st.error(str(err))
        return
    render_review(client, run_id, results)


render_form()
if "caption.failed" in st.session_state:
    st.error(st.session_state.pop("caption.failed"))
render_job()
st.divider()
render_results()
