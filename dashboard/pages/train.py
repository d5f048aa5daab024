"""Train: the tensor folder, a preset, every training setting, resume, profiles, start.

The form comes from `TrainSettings` (the settings registry). Its values live in
`st.session_state["train.values"]` so they survive page changes; a preset or a loaded profile
re-seeds the form by bumping the widget keys' version. The job runs in the daemon; the Monitor
page draws its metrics.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.components import dataset_state
from dashboard.components.preset_exchange import render_epoch_advice, render_preset_exchange
from dashboard.components.train_sources import auto_preset, default_tensors_dir, resume_check, resume_points
from dashboard.connection import require_client
from dashboard.forms import settings_form
from dashboard.workflow import mark_done
from shared.cli.util import format_seconds
from shared.client import FINISHED
from shared.errors import SettingsError, StudioError
from shared.presets import list_presets, load_preset
from shared.tensor_manifest import present_samples
from shared.train_profile import dump_profile, read_profile
from shared.train_settings import ADAPTER_TYPES, TrainSettings, settings_not_for

VALUES_KEY, VERSION_KEY = "train.values", "train.form_version"
PRESET_KEY, ADAPTER_KEY, APPLIED_KEY = "train.preset", "train.adapter_type", "train.applied"
NOTICES_KEY, PROFILE_KEY, JOB_KEY = "train.notices", "train.profile_file", "train.job_id"
FRESH, OTHER = "(start fresh)", "(another folder)"
PATH_SETTINGS = ("tensors_dir", "resume_from")
OWN_WIDGETS = (*PATH_SETTINGS, "adapter_type")  # drawn by this page, not by the settings form

st.title("Train")
st.caption("A LoRA, DoRA, LoKr or LoHa adapter from a folder of training tensors.")
client = require_client()


def form_key() -> str:
    """The prefix of every form widget's key; a new version re-seeds the widgets."""
    return f"train.f{st.session_state.get(VERSION_KEY, 0)}"


def seed(values: dict, *notices: tuple[str, str]) -> None:
    """Replace the form's values (a preset, a profile, a checkpoint's settings) and say why."""
    st.session_state[VALUES_KEY] = values
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1
    st.session_state[NOTICES_KEY] = list(notices)


def on_preset_change() -> None:
    """on_change of the preset and adapter-type boxes."""
    apply_preset(st.session_state[PRESET_KEY], st.session_state[ADAPTER_KEY])


def apply_preset(name: str, adapter_type: str) -> None:
    """Seed the form with a preset's settings for an adapter type (the paths kept); unknown keys
    are reported."""
    current = st.session_state.get(VALUES_KEY) or {}
    try:
        preset = load_preset(name, adapter_type, home=client.home)
    except SettingsError as err:
        st.session_state[NOTICES_KEY] = [("error", str(err))]
        return
    st.session_state[APPLIED_KEY] = (name, adapter_type)
    notices = [("info", f"Preset {name} for {adapter_type} applied.")]
    if preset.unknown:
        notices.append(("warning", f"Preset {name} has settings this studio does not know, not applied: "
                                   f"{', '.join(preset.unknown)}"))
    seed({**preset.to_dict(), **{k: current.get(k) for k in PATH_SETTINGS if current.get(k)}}, *notices)


def first_values() -> None:
    """On the first visit: the preset that fits the GPU, and the last preprocessing output."""
    if VALUES_KEY in st.session_state:
        return
    name, why = auto_preset(client, list_presets(home=client.home))
    apply_preset(name, "lora")
    st.session_state.setdefault(VALUES_KEY, {})["tensors_dir"] = default_tensors_dir(client)
    st.session_state[NOTICES_KEY] = [("info", f"Preset {name} chosen for you ({why}).")]


def render_presets(adapter_type: str) -> str:
    """The preset and the adapter type (the one selector for it); a change re-seeds the form with
    the preset's settings for that type (on_change). Returns the adapter type."""
    presets = {p.name: p for p in list_presets(home=client.home)}
    applied_name = (st.session_state.get(APPLIED_KEY) or (None, "lora"))[0]
    names = list(presets)
    c1, c2 = st.columns([3, 1])
    c1.selectbox("Preset", names, index=names.index(applied_name) if applied_name in names else 0,
                 key=PRESET_KEY, on_change=on_preset_change,
                 format_func=lambda n: f"{n} · {presets[n].description}" if presets[n].description else n,
                 help="Choosing a preset (or adapter type) replaces the form's values with the preset's.")
    if st.session_state.get(ADAPTER_KEY) != adapter_type:  # seeded by a profile or a checkpoint
        st.session_state[ADAPTER_KEY] = adapter_type if adapter_type in ADAPTER_TYPES else ADAPTER_TYPES[0]
    return c2.selectbox(TrainSettings.spec("adapter_type").label, ADAPTER_TYPES, key=ADAPTER_KEY,
                        on_change=on_preset_change, help=TrainSettings.spec("adapter_type").help
                        + " Shows that type's settings and applies the preset's settings for it.")


def render_profile_upload() -> None:
    """A profile file re-seeds the whole form, once per uploaded file; its problems stay in view."""
    upload = st.file_uploader("Load a profile", type=["json"], key="train.profile_upload",
                              help="A profile saved here (or any JSON object of training settings).")
    if upload is None:
        return
    done = st.session_state.get(PROFILE_KEY) or {}
    if done.get("id") != upload.file_id:
        try:
            profile = read_profile(upload.getvalue(), upload.name)
        except SettingsError as err:
            done = {"id": upload.file_id, "error": str(err)}
        else:
            done = {"id": upload.file_id, "error": None}
            notices = [("success", f"Profile {upload.name} loaded.")]
            if profile.unknown:
                notices.append(("warning", f"{upload.name}: unknown settings, not applied: "
                                           f"{', '.join(profile.unknown)}"))
            if profile.dataset:
                notices.append(("info", f"The profile's dataset: {profile.dataset}"))
            seed(profile.settings.to_dict(), *notices)
        st.session_state[PROFILE_KEY] = done
        if not done["error"]:
            st.rerun()
    if done.get("error"):
        st.error(done["error"])


def render_tensors(value: str) -> tuple[str, dict | None, str | None]:
    """The tensors folder, with what the daemon finds in it (samples, model, warnings) or why it
    cannot be read: (folder, what it holds, the problem that keeps training from starting)."""
    folder = st.text_input("Training tensors folder", value, key=f"{form_key()}.tensors_dir",
                           help=TrainSettings.spec("tensors_dir").help).strip()
    if not folder:
        return folder, None, None
    try:
        found = client.request("tensors", {"folder": absolute_path(folder)})
    except StudioError as err:
        problem = str(TrainSettings.field_error("tensors_dir", str(err)))
        st.error(problem)
        return folder, None, problem
    for warning in found["warnings"]:
        st.warning(warning)
    trigger = f" · trigger word {found['trigger_word']}" if found["trigger_word"] else ""
    st.caption(f"{len(found['samples'])} sample(s) · made with {found['model'] or 'an unknown model'}{trigger}"
               + (" · complete" if found.get("complete") else ""))
    return folder, found, None


def render_resume(value: str | None, values: dict) -> tuple[str | None, str | None]:
    """Start fresh, one of the checkpoints of earlier runs, or another folder; the daemon says
    whether the form's settings may resume from it, before anything is submitted: (the folder, the
    problem that keeps training from starting)."""
    points = resume_points(client)
    paths = [p.path for p in points]
    labels = {p.path: p.label for p in points}
    options = [FRESH, *paths, OTHER]
    index = options.index(value) if value in paths else (len(options) - 1 if value else 0)
    chosen = st.selectbox("Resume from a checkpoint", options, index=index, key=f"{form_key()}.resume",
                          format_func=lambda o: labels.get(o, o), help=TrainSettings.spec("resume_from").help)
    if chosen == OTHER:
        chosen = st.text_input("Checkpoint folder", value or "", key=f"{form_key()}.resume_path").strip()
    if chosen in (FRESH, ""):
        return None, None
    try:
        check = resume_check(client, absolute_path(chosen), values)
    except StudioError as err:
        problem = str(TrainSettings.field_error("resume_from", str(err)))
        st.error(problem)
        return chosen, problem
    if check["differences"]:
        st.warning("The adapter settings differ from the checkpoint's, so resuming would be refused: "
                   + "; ".join(d.replace(" -> ", " → ") for d in check["differences"]))
    if st.button("Use the checkpoint's settings", key="train.use_checkpoint_settings"):
        saved = check["settings"]
        keep = {"tensors_dir": values.get("tensors_dir") or saved.get("tensors_dir"), "resume_from": chosen}
        known = {k: v for k, v in saved.items() if k in TrainSettings.names()}
        seed({**known, **keep}, ("info", f"Settings taken from {chosen}; raise the epochs to train further."))
        st.rerun()
    return chosen, None


def render_models() -> None:
    """The checkpoints the daemon knows, for the `checkpoint` setting (empty: the selected one)."""
    try:
        listing = client.request("checkpoints", {})
    except StudioError:
        return
    names = [c["name"] + (" (selected)" if c.get("selected") else "") for c in listing.get("checkpoints", [])]
    st.caption("Checkpoints: " + (", ".join(names) if names else "none found; add a folder on the Service page"))


def check(values: dict, folder_problems: list[str | None]) -> tuple[TrainSettings | None, str | None]:
    """The settings, or the first problem (naming the field) that keeps the job from starting;
    `folder_problems` are the daemon's answers about the tensors and checkpoint folders."""
    try:
        settings = TrainSettings.from_dict(values)
    except SettingsError as err:
        return None, str(err)
    if not settings.tensors_dir:
        return settings, str(TrainSettings.field_error("tensors_dir", "choose the folder of training tensors "
                                                                      "(made on the Preprocess page)"))
    return settings, next((p for p in folder_problems if p), None)


def absolute_path(path: str) -> str:
    """A path as the daemon should read it: `~` expanded, relative to the directory the dashboard
    was started in (the daemon runs in its own)."""
    return str(Path(path).expanduser().absolute())


def absolute(settings: TrainSettings) -> TrainSettings:
    """Paths made absolute: the daemon runs in its own working directory."""
    return settings.replace(**{k: absolute_path(getattr(settings, k)) for k in PATH_SETTINGS if getattr(settings, k)})


def dataset_reference(found: dict | None) -> str | None:
    """The dataset a profile names: the one the tensors were made from, else the Dataset page's."""
    return (found or {}).get("dataset") or dataset_state.current_path()


def start(settings: TrainSettings) -> None:
    """Submit the job; the daemon's refusal is shown as an error, never a success."""
    try:
        job_id = client.submit("train", absolute(settings).to_dict())
    except StudioError as err:
        st.error(str(err))
        return
    st.session_state[JOB_KEY] = job_id
    st.toast(f"Training queued as {job_id}. Follow it on the Monitor page.")  # its state shows below


def render_job(job: dict) -> None:
    """The last job started here: its state and, once it ends, its outcome or its error."""
    state, result = job["state"], job.get("result") or {}
    if state == "queued":
        st.info(f"{job['id']} is waiting for the job before it.")
    elif state == "running":
        progress = job.get("progress") or {}
        st.progress(min(1.0, float(progress.get("fraction") or 0.0)),
                    text=f"{job['id']}: {progress.get('message') or 'loading the model'} · "
                         f"ETA {format_seconds(progress.get('eta_s'))} (charts on the Monitor page)")
    elif state == "failed":
        st.error(f"Training failed: {(job.get('error') or {}).get('evalue')}")
    elif state in ("stopped", "cancelled"):
        st.warning(f"Training {state}." + (f" Resumable from {result['last_checkpoint']}."
                                           if result.get("last_checkpoint") else ""))
    else:
        mark_done("Train")
        st.success(f"Done: {result.get('global_step')} steps, {result.get('epochs')} epochs "
                   f"({result.get('outcome')}). Adapter: {result.get('final') or job['run_dir']}")


def live_job() -> None:
    """The fragment that follows the last job started here (once a second while it is active)."""
    job_id = st.session_state.get(JOB_KEY)
    if not job_id:
        return
    try:
        job = client.job(job_id)
    except StudioError as err:
        st.info(f"The last job is no longer known to the daemon ({err}).")
        st.session_state.pop(JOB_KEY, None)
        return
    render_job(job)
    if job["state"] in FINISHED and st.session_state.pop("train.polling", False):
        st.rerun()  # a full rerun turns the once-a-second polling off


def job_active() -> bool:
    """True while the last job started here is queued or running."""
    try:
        return bool(st.session_state.get(JOB_KEY)) and client.job(st.session_state[JOB_KEY])["state"] not in FINISHED
    except StudioError:
        return False


first_values()
adapter_type = render_presets(st.session_state[VALUES_KEY].get("adapter_type", "lora"))
profile_box = st.expander("Profile: save or load every setting as one file")
with profile_box:
    render_profile_upload()
exchange_box = st.container()  # filled once the form's settings are known
for level, text in st.session_state.pop(NOTICES_KEY, []):
    getattr(st, level)(text)
seeded = dict(st.session_state.get(VALUES_KEY) or {})
tensors_dir, tensors_found, tensors_problem = render_tensors(seeded.get("tensors_dir") or "")
render_epoch_advice(tensors_found and present_samples(tensors_found), seed, seeded)
render_models()
hidden = settings_not_for(adapter_type)  # only the chosen adapter type's settings are shown
values = {k: seeded[k] for k in hidden if k in seeded}
values.update(settings_form(TrainSettings, seeded, key=form_key(), exclude=OWN_WIDGETS + hidden))
values["adapter_type"] = adapter_type
values["tensors_dir"] = tensors_dir
values["resume_from"], resume_problem = render_resume(seeded.get("resume_from"), values)
st.session_state[VALUES_KEY] = values
settings, problem = check(values, [tensors_problem, resume_problem])
if problem and problem not in (tensors_problem, resume_problem):  # those are shown beside their field
    st.error(problem)
if settings is not None:  # filled in now that the form's values are known
    profile_box.download_button("Save profile", dump_profile(settings, dataset_reference(tensors_found)),
                                file_name="training_profile.json", mime="application/json",
                                key="train.profile_save", help="Every setting and the dataset, as one JSON file.")
with exchange_box:
    render_preset_exchange(client.home, seed, values, settings)
if st.button("Start training", type="primary", key="train.start", disabled=problem is not None):
    start(settings)
active = job_active()
st.session_state["train.polling"] = active
st.fragment(run_every=1.0 if active else None)(live_job)()
