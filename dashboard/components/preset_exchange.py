"""The Train page's preset exchange: import a Side-Step or ace-lora-trainer preset (into the form,
or saved as a preset of your own), export the form as one, and the epochs advised for the tensor
folder's size. Every key not carried and every setting left out is shown; nothing applies unasked.

The page passes `seed(values, *notices)` (re-seeds the form) and the form's current values; the
mapping is shared.preset_formats, the advice shared.preset_advice. No torch, no daemon files.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from shared.errors import SettingsError
from shared.preset_advice import advise_epochs
from shared.preset_formats import FORMATS, Imported, export_foreign, import_foreign
from shared.presets import save_user_preset
from shared.train_settings import TrainSettings

Seed = Callable[..., None]
PATHS = ("tensors_dir", "checkpoint", "resume_from")
UPLOAD_KEY, IMPORTED_KEY = "presets.import_upload", "presets.imported"


def render_preset_exchange(home: str | Path, seed: Seed, values: dict, settings: TrainSettings | None) -> None:
    """The expander with import and export; `settings` is the form's (None while it has a problem)."""
    with st.expander("Presets from Side-Step or ace-lora-trainer: import, or export this form"):
        render_import(home, seed, values)
        st.divider()
        render_export(settings)


def _read_upload() -> tuple[Imported | None, str | None]:
    """The uploaded file, imported once per file (kept in the session), or the error naming the field."""
    upload = st.file_uploader("Import a preset file", type=["json"], key=UPLOAD_KEY,
                              help="A Side-Step or ace-lora-trainer preset (flat JSON). Values the studio "
                                   "cannot take are refused by name; keys it has no counterpart for are listed.")
    if upload is None:
        return None, None
    done = st.session_state.get(IMPORTED_KEY) or {}
    if done.get("id") != upload.file_id:
        try:
            data = json.loads(upload.getvalue())
            done = {"id": upload.file_id, "name": upload.name, "imported": import_foreign(data, source=upload.name)}
        except (SettingsError, UnicodeDecodeError, json.JSONDecodeError) as err:
            done = {"id": upload.file_id, "name": upload.name, "error": str(err)}
        st.session_state[IMPORTED_KEY] = done
    return done.get("imported"), done.get("error")


def render_import(home: str | Path, seed: Seed, values: dict) -> None:
    imported, error = _read_upload()
    if error:
        st.error(error)
    if imported is None:
        return
    source = st.session_state[IMPORTED_KEY]["name"]
    st.caption(f"{imported.label} preset {source}: {len(imported.carried)} setting(s) carried")
    rows = [{f"{imported.label} key": k, "studio setting": s, "value": json.dumps(v)}
            for k, (s, v) in imported.carried.items()]
    st.dataframe(rows, hide_index=True, key="presets.carried", height=min(36 * (len(rows) + 1), 320))
    if imported.report():
        st.warning("Not carried:\n" + "\n".join(f"- {line}" for line in imported.report()))
    c1, c2, c3 = st.columns([2, 2, 3])
    if c1.button("Apply to the form", key="presets.apply_import"):
        keep = {k: values.get(k) for k in PATHS if values.get(k)}
        seed({**imported.settings.to_dict(), **keep},
             ("success", f"{imported.label} preset {source} applied to the form."),
             *([("warning", "Not carried: " + "; ".join(imported.report()))] if imported.report() else []))
        st.rerun()
    name = c3.text_input("Preset name", (imported.name or Path(source).stem).replace(" ", "_"),
                         key="presets.import_name", label_visibility="collapsed")
    if c2.button("Save as preset", key="presets.save_import"):
        try:
            path = save_user_preset(name, imported.preset_data(source), home)
        except SettingsError as err:
            st.error(str(err))
        else:
            st.success(f"Saved as preset {name} ({path}); choose it above.")


def render_export(settings: TrainSettings | None) -> None:
    if settings is None:
        st.caption("Fix the form's problem first to export it.")
        return
    fmt = st.selectbox("Export the form as", list(FORMATS), key="presets.export_format",
                       format_func=lambda f: f"{FORMATS[f].label} preset")
    data, left_out = export_foreign(settings, fmt, "studio_export", "Exported from ACE-Step LoRA Studio")
    st.download_button(f"Download the {FORMATS[fmt].label} preset", json.dumps(data, indent=2) + "\n",
                       file_name=f"studio_{fmt}.json", mime="application/json", key="presets.export")
    st.caption(f"{FORMATS[fmt].label} has no key for: {', '.join(left_out)}; it uses its own behaviour there.")


def render_epoch_advice(samples: int | None, seed: Seed, values: dict) -> None:
    """The epochs and checkpoint interval advised for the tensor folder's `samples` (as the daemon
    counted them; None: no readable folder), applied on a click."""
    if not samples:
        return  # the tensors box already says what is wrong with the folder
    advice = advise_epochs(samples)
    c1, c2 = st.columns([4, 1])
    c1.caption(f"Advice for this folder: {advice.describe()}.")
    if c2.button("Apply advice", key="presets.apply_advice",
                 help="Sets epochs and the checkpoint interval; nothing else changes."):
        seed({**values, **advice.settings()}, ("info", f"Epoch advice applied: {advice.describe()}."))
        st.rerun()
