"""Samples: hear a run change over training. A grid of rounds (epochs, sample now, generations) by
adapter strength, per prompt, each cell a player and a spectrogram; and a Generate form whose clips
land in the same grid. Clips come from the daemon (`run_samples`, `run_file`), never from disk.
"""
from __future__ import annotations

import streamlit as st

from dashboard.components.run_picker import adapter_outputs, output_label, pick_run
from dashboard.components.sample_grid import groups_of, render_grid
from dashboard.connection import followed_job, require_client
from dashboard.forms import settings_form
from shared.client import FINISHED
from shared.errors import SettingsError, StudioError
from shared.sample_settings import GenerateSettings

RUN_KEY, ROUNDS_KEY, JOB_KEY = "samples.run", "samples.rounds", "samples.generate_job"
ROUNDS_SHOWN = 4  # the newest rounds open by default: each cell fetches its audio
BASE = "(base model, no adapter)"

st.title("Samples")
st.caption("Listen to a run's samples by epoch and adapter strength; generate more from any of its adapters.")
client = require_client()


def render_rounds(run_id: str, clips: list[dict]) -> None:
    """The rounds to show (the newest open by default; a round that appears later opens too), then the grid."""
    groups = groups_of(clips)
    labels = dict(groups)
    key, known_key = f"{ROUNDS_KEY}.{run_id}", f"{ROUNDS_KEY}.{run_id}.known"
    known = st.session_state.get(known_key)
    if key not in st.session_state:
        st.session_state[key] = [g for g, _ in groups[-ROUNDS_SHOWN:]]
    elif known is not None:
        st.session_state[key] = [g for g in st.session_state[key] if g in labels] + [
            g for g, _ in groups if g not in known]
    st.session_state[known_key] = list(labels)
    chosen = st.multiselect("Rounds", list(labels), key=key, format_func=lambda g: labels[g],
                            help="Which sampling rounds to show (epochs, sample now, generations).")
    render_grid(client, run_id, clips, [g for g, _ in groups if g in chosen])


def generate_defaults(clips: list[dict]) -> dict:
    """The newest clip's prompt and metas, and every strength the run sampled at."""
    if not clips:
        return {"strengths": [0.5, 1.0, 1.5]}
    last = clips[-1]
    keep = ("prompt", "lyrics", "bpm", "key", "timesignature", "language", "seconds", "seed", "format")
    strengths = sorted({c["strength"] for c in clips if c.get("strength") is not None}) or [1.0]
    return {**{k: last[k] for k in keep if last.get(k) not in (None, "")}, "strengths": strengths}


def render_generate(run: dict, clips: list[dict]) -> None:
    """The Generate form: an adapter of this run (or none), the prompt and sampling settings."""
    outputs = adapter_outputs(run)
    choices = [o["path"] for o in outputs] + [BASE]
    labels = {o["path"]: output_label(o) for o in outputs} | {BASE: BASE}
    with st.form(f"samples.generate.{run['id']}"):
        st.markdown("**Generate**")
        adapter = st.selectbox("Adapter", choices, format_func=labels.get,
                               help=GenerateSettings.spec("adapter").help)
        values = settings_form(GenerateSettings, generate_defaults(clips), key=f"samples.gen.{run['id']}",
                               exclude=("adapter", "checkpoint"))
        submitted = st.form_submit_button("Generate", type="primary")
    if not submitted:
        return
    try:
        settings = GenerateSettings.from_dict({**values, "adapter": "" if adapter == BASE else adapter})
        st.session_state[JOB_KEY] = client.submit("generate", settings.to_dict())
    except (SettingsError, StudioError) as err:
        st.error(str(err))


@st.fragment(run_every=2.0)
def render_generate_job() -> None:
    """The generation job's progress; when it is done the page reloads, so its clips are in the grid."""
    job = followed_job(client, JOB_KEY)
    if job is None:
        return
    if job["state"] not in FINISHED:
        progress = job.get("progress") or {}
        st.progress(min(1.0, float(progress.get("fraction") or 0.0)), text=f"generating ({job['state']})")
        return
    st.session_state.pop(JOB_KEY)
    if job["state"] == "done":
        st.toast(f"Generated {len((job.get('result') or {}).get('files', []))} clip(s).")
        st.rerun(scope="app")
    st.error(f"Generation {job['state']}: {(job.get('error') or {}).get('evalue', '')}")


def has_own_samples(run: dict) -> bool:
    """Training runs, and generations whose clips stayed in their own folder (an adapter from no run):
    a generation from a run's adapter put its clips in that run's grid."""
    return run["kind"] == "train" or (run.get("result") or {}).get("run_dir") == run.get("run_dir")


run = pick_run(client, ["train", "generate"], RUN_KEY, keep=has_own_samples)
if run is None:
    st.info("No runs yet. Samples appear here while a training run goes (every N epochs, or Sample now on "
            "the Monitor page).")
    st.stop()
try:
    clips = client.run_samples(run["id"])
except StudioError as err:
    st.error(str(err))
    clips = []
if clips:
    render_rounds(run["id"], clips)
else:
    st.info("This run has no samples yet: they are rendered every N epochs (Train page, Samples section), "
            "at the end, on Sample now, or with the form below.")
render_generate_job()
render_generate(run, clips)
