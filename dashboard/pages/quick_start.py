"""Quick start: a folder of songs to a trained adapter with samples, in one click.

One form (folder, trigger word, checkpoint, labelling; the rest folded) submits a `pipeline` job.
Below it, the newest pipeline's stages with their state, the running stage's progress and each
stage's log; at the end the adapter's files and the samples at strengths 0 and 1 to play. Paths
are on the daemon's machine and everything shown comes from the daemon (`jobs`, `job_events`,
`run_samples`, `run_file`), never from disk. The demo folder is filled in to start with.
"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from dashboard.components.event_log import describe
from dashboard.components.sample_grid import render_grid
from dashboard.connection import require_client
from dashboard.forms import settings_form
from shared.client import FINISHED, StudioClient
from shared.errors import SettingsError, StudioError
from shared.pipeline_settings import STAGES, PipelineSettings

JOB_KEY, VALUES_KEY, LOGS_KEY = "quick.job", "quick.values", "quick.logs"
SELECTED = "(the daemon's selected checkpoint)"
TITLES = {"scan": "Scan the folder", "label": "Label what lacks labels", "preprocess": "Preprocess",
          "train": "Train, with samples", "export": "Export: PEFT folder and ComfyUI file",
          "samples": "Samples at strengths 0 and 1"}
ICONS = {"waiting": ":material/radio_button_unchecked:", "running": ":material/autorenew:",
         "done": ":material/check_circle:", "reused": ":material/check_circle:", "failed": ":material/error:",
         "stopped": ":material/pause_circle:"}
SAID = {"waiting": "waiting", "running": "running", "done": "done", "reused": "done before, reused",
        "failed": "failed", "stopped": "stopped"}
QUIET = ("metric", "progress", "gpu", "job_state", "pipeline_stage")  # the stage rows show these
LOG_LINES = 40

st.title("Quick start")
st.caption("From a folder of songs to an adapter that ACE-Step and ComfyUI load, with samples to hear, in one "
           "click. Each step runs as a job of its own (the Monitor page follows the training); run it again "
           "and it goes on from the first step not done with these settings.")
client = require_client()


def demo_folder() -> str:
    return str(Path(os.environ.get("ACESTEP_DEMO_ROOT") or "./demo_assets").absolute() / "dataset")


def checkpoint_names() -> list[str]:
    try:
        listing = client.request("checkpoints", {})
    except StudioError:
        return []
    return [c["name"] for c in listing.get("checkpoints", [])]


def render_form() -> None:
    values = st.session_state.setdefault(VALUES_KEY, {"folder": demo_folder()})
    with st.form("quick.form"):
        folder = st.text_input(PipelineSettings.spec("folder").label, values.get("folder", ""), key="quick.folder",
                               help=PipelineSettings.spec("folder").help + " A path on the daemon's machine.")
        trigger = st.text_input("Trigger word", values.get("trigger_word", ""), key="quick.trigger",
                                help=PipelineSettings.spec("trigger_word").help)
        names = checkpoint_names()
        checkpoint = st.selectbox("Checkpoint", [SELECTED, *names], key="quick.checkpoint",
                                  help=PipelineSettings.spec("checkpoint").help)
        chosen = settings_form(PipelineSettings, values, key="quick.more",
                               exclude=("folder", "trigger_word", "checkpoint"))
        start = st.form_submit_button("Start", type="primary")
    if not start:
        return
    chosen.update(folder=folder.strip(), trigger_word=trigger.strip(),
                  checkpoint="" if checkpoint == SELECTED else checkpoint)
    st.session_state[VALUES_KEY] = chosen
    try:
        st.session_state[JOB_KEY] = client.submit("pipeline", PipelineSettings.from_dict(chosen).to_dict())
    except (SettingsError, StudioError) as err:
        st.error(str(err))


def newest_pipeline(jobs: list[dict]) -> dict | None:
    """The pipeline this session started, else the newest one the daemon knows."""
    wanted = st.session_state.get(JOB_KEY)
    pipelines = [j for j in jobs if j["kind"] == "pipeline"]
    return next((j for j in pipelines if j["id"] == wanted), pipelines[-1] if pipelines else None)


def log_lines(job_id: str, finished: bool) -> list[str]:
    """A job's log as sentences; a finished job's is fetched once, a running one's from where it was."""
    logs = st.session_state.setdefault(LOGS_KEY, {})
    kept = logs.get(job_id) or {"seq": 0, "lines": [], "final": False}
    if not kept["final"]:
        try:
            events = client.request("job_events", {"job_id": job_id, "since": kept["seq"]})["events"]
        except StudioError:  # a job of an earlier daemon: its log stays in its run folder
            events = []
        for event in events:
            kept["seq"] = max(kept["seq"], event["seq"])
            if event["type"] not in QUIET:
                kept["lines"].append(describe(event))
        kept["final"] = finished
        logs[job_id] = kept
    return kept["lines"]


def render_stage(name: str, entry: dict, jobs: dict[str, dict]) -> None:
    state = entry.get("state", "waiting")
    st.markdown(f"{ICONS.get(state, '')} **{TITLES[name]}**: {SAID.get(state, state)}")
    for job_id in entry.get("jobs") or []:
        job = jobs.get(job_id)
        if job is not None and job["state"] == "running":
            progress = job.get("progress") or {}
            st.progress(min(1.0, float(progress.get("fraction") or 0.0)),
                        text=f"{job['kind']}: {progress.get('message', '')}")
    if entry.get("reason") and state == "failed":
        st.error(entry["reason"])
    elif entry.get("reason") and state == "stopped":
        st.warning(entry["reason"])
    if entry.get("jobs") and state != "waiting":
        with st.expander(f"Log of {', '.join(entry['jobs'])}"):
            lines = [line for job_id in entry["jobs"]
                     for line in log_lines(job_id, (jobs.get(job_id) or {}).get("state", "done") in FINISHED)]
            st.text("\n".join(lines[-LOG_LINES:]) or "(nothing logged)")


def render_stages(pipeline: dict, jobs: dict[str, dict]) -> None:
    stages = (pipeline.get("progress") or {}).get("stages") or {}
    for name in STAGES:
        render_stage(name, stages.get(name) or {"state": "waiting"}, jobs)


@st.fragment(run_every=2.0)
def render_live(pipeline_id: str) -> None:
    """The running pipeline, redrawn every 2 s; the whole page once it ended (outputs and samples)."""
    try:
        jobs = {j["id"]: j for j in client.jobs()}
    except StudioError as err:
        st.error(str(err))
        return
    pipeline = jobs.get(pipeline_id)
    if pipeline is None or pipeline["state"] in FINISHED:
        st.rerun(scope="app")
    st.subheader(f"Pipeline {pipeline_id}: {pipeline['state']}")
    if pipeline["state"] == "running" and st.button("Stop", key="quick.stop",
                                                    help="The running job saves first; start again to go on."):
        try:
            client.stop(pipeline_id)
        except StudioError as err:
            st.error(str(err))
    render_stages(pipeline, jobs)


def render_outputs(pipeline: dict, client: StudioClient) -> None:
    result = pipeline.get("result") or {}
    st.success(f"Adapter (PEFT folder): `{result.get('adapter')}`  \nComfyUI file: `{result.get('comfyui')}`  \n"
               f"Training run: `{result.get('train_run')}` (the Monitor and Samples pages show it)")
    samples = result.get("samples") or {}
    run_id, groups = samples.get("run_id"), samples.get("groups") or []
    if not run_id or not groups:
        return
    st.subheader("Samples")
    try:
        clips = client.run_samples(run_id)
    except StudioError as err:
        st.error(str(err))
        return
    render_grid(client, run_id, clips, groups)


def render_pipeline() -> None:
    try:
        jobs = {j["id"]: j for j in client.jobs()}
    except StudioError as err:
        st.error(str(err))
        return
    pipeline = newest_pipeline(list(jobs.values()))
    if pipeline is None:
        st.info("No pipeline yet: the demo folder is filled in above; press Start to run the whole workflow on it.")
        return
    if pipeline["state"] not in FINISHED:
        render_live(pipeline["id"])
        return
    st.subheader(f"Pipeline {pipeline['id']}: {pipeline['state']}")
    if pipeline.get("error"):
        st.error(pipeline["error"].get("evalue", ""))
    render_stages(pipeline, jobs)
    if pipeline["state"] == "done":
        render_outputs(pipeline, client)


render_form()
st.divider()
render_pipeline()
