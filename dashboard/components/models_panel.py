"""The Service page's models section: checkpoint roots, checkpoints with load/unload, the GPU.

Everything goes through the daemon client (`checkpoints`, `load` job, `unload`, `models`, `gpu`);
nothing here imports torch or the daemon. Widget keys start with `models.`.

What is loaded (and in use by a job) is redrawn every second in its own fragment, so a load job
that finishes, or a job that lets go of a model, shows without a reload; when the selected
checkpoint changes, the whole page reruns so the checkpoint table marks it too.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

import pandas as pd
import streamlit as st

from shared.cli.util import format_bytes
from shared.errors import StudioError

GPU_REFRESH_S = 2.0
LOADED_REFRESH_S = 1.0
SELECTED_KEY = "models.selected_shown"
DEFAULT_COMPONENTS = ["dit"]
COMPONENT_HELP = ("dit: the DiT (training); vae + text_encoder: preprocessing and samples; "
                  "silence_latent: text-to-music context")


def render_models_panel(client: Any) -> None:
    """Checkpoint roots (add/remove), the checkpoint list with load and unload, loaded models, GPU."""
    st.subheader("Models")
    try:
        listing = client.request("checkpoints", {})
        loaded = client.request("models", {})
    except StudioError as err:
        st.error(f"Could not list the models: {err}")
        return
    _render_roots(client, listing)
    _render_checkpoints(client, listing)
    st.session_state[SELECTED_KEY] = (loaded.get("selected") or {}).get("name")
    _loaded_fragment(client)
    _gpu_fragment(client)


def _act(fn: Callable[[], Any], success: str) -> Any:
    try:
        result = fn()
    except StudioError as err:
        st.error(str(err))
        return None
    st.toast(success)
    return result


def _render_roots(client: Any, listing: dict) -> None:
    with st.expander("Checkpoint folders", expanded=not listing["checkpoints"]):
        roots = pd.DataFrame(listing["roots"], columns=["path", "source", "exists"])
        st.dataframe(roots, hide_index=True, width="stretch")
        folder = st.text_input("Add a folder (a checkpoints folder or an ACE-Step install)", key="models.add_path")
        if st.button("Add folder", key="models.add_root", disabled=not folder.strip()):
            if _act(lambda: client.request("checkpoints", {"add_root": folder.strip()}), f"Added {folder}"):
                st.rerun()
        user_roots = [r["path"] for r in listing["roots"] if r["source"] == "user"]
        if user_roots:
            chosen = st.selectbox("Added folders", user_roots, key="models.remove_path")
            if st.button("Remove folder", key="models.remove_root"):
                if _act(lambda: client.request("checkpoints", {"remove_root": chosen}), f"Removed {chosen}"):
                    st.rerun()


def _render_checkpoints(client: Any, listing: dict) -> None:
    checkpoints = listing["checkpoints"]
    if not checkpoints:
        st.info("No checkpoints found. Add the folder that holds `acestep-v15-turbo/`, or run "
                "`acestep-studio demo` and start the daemon with `--demo-root`.")
        return
    table = pd.DataFrame([{
        "selected": bool(c.get("selected")), "name": c["name"], "kind": c["kind"],
        "size": format_bytes(c["size_bytes"]),
        "vae": "yes" if c["vae"] else "missing", "text encoder": "yes" if c["text_encoder"] else "missing",
        "path": c["path"],
    } for c in checkpoints])
    st.dataframe(table, hide_index=True, width="stretch")
    paths = [c["path"] for c in checkpoints]
    names = {c["path"]: c["name"] for c in checkpoints}
    current = next((i for i, c in enumerate(checkpoints) if c.get("selected")), 0)
    cols = st.columns([3, 3, 1])
    chosen = cols[0].selectbox("Checkpoint", paths, index=current, key="models.checkpoint",
                               format_func=lambda p: names[p])
    components = cols[1].multiselect("Components", ["dit", "vae", "text_encoder", "silence_latent"],
                                     default=DEFAULT_COMPONENTS, key="models.components", help=COMPONENT_HELP)
    if cols[2].button("Load", key="models.load", disabled=not components):
        _act(lambda: client.submit("load", {"checkpoint": chosen, "components": components}),
             f"Loading {names[chosen]}: follow it under Jobs.")


@st.fragment(run_every=LOADED_REFRESH_S)
def _loaded_fragment(client: Any) -> None:
    try:
        loaded = client.request("models", {})
    except StudioError as err:
        st.error(f"Could not list the loaded models: {err}")
        return
    selected = (loaded.get("selected") or {}).get("name")
    if selected != st.session_state.get(SELECTED_KEY):
        st.rerun(scope="app")  # the checkpoint table above marks the selected one
    _render_loaded(client, loaded)


def _render_loaded(client: Any, loaded: dict) -> None:
    components = loaded.get("components") or {}
    selected = (loaded.get("selected") or {}).get("name")
    if not components:
        st.caption(f"Nothing loaded{f' (selected: {selected})' if selected else ''}; models load on first use.")
        return
    offload = "on" if loaded.get("offload") else "off"
    st.caption(f"Loaded from {selected} · device {loaded.get('device')} · {loaded.get('dtype')} · "
               f"offloading {offload} · fingerprint {loaded.get('fingerprint') or '-'}")
    rows = [{
        "component": name, "where": ", ".join(f"{unit}: {dev}" for unit, dev in info["placement"].items()),
        "offloaded": ", ".join(info["offloaded"]), "size": format_bytes(info["bytes"]),
        "in use": ", ".join(u for u in (loaded.get("in_use") or {}) if u in info["placement"]),
        "load time": f"{info['load_seconds']:.1f} s",
    } for name, info in components.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    cols = st.columns([3, 1, 1])
    unload = cols[0].selectbox("Unload one", list(components), key="models.unload_one")
    if cols[1].button("Unload", key="models.unload_selected"):
        _act(lambda: client.request("unload", {"components": [unload]}), f"Unloaded {unload}.")
    if cols[2].button("Unload all", key="models.unload"):
        _act(lambda: client.request("unload", {}), "Models unloaded, memory freed.")


@st.fragment(run_every=GPU_REFRESH_S)
def _gpu_fragment(client: Any) -> None:
    st.subheader("GPU")
    try:
        gpu = client.request("gpu", {})
    except StudioError as err:
        st.error(f"No GPU status: {err}")
        return
    if not gpu.get("available"):
        st.info(gpu.get("reason") or "no GPU")
        return
    monitor = gpu.get("monitor") or {}
    if monitor.get("alerting"):
        st.warning(f"GPU memory above {monitor['alert_percent']:.0f}%: training may run out of memory.")
    st.caption(f"Driver {gpu['driver']}")
    for device in gpu["devices"]:
        cols = st.columns(4)
        cols[0].metric(f"GPU {device['index']}", device["name"])
        cols[1].metric("Compute capability", device.get("compute_capability") or "?")
        cols[2].metric("VRAM used", format_bytes(device["memory_used"]),
                       help=f"of {format_bytes(device['memory_total'])}")
        cols[3].metric("VRAM free", format_bytes(device["memory_free"]))
        st.progress(min(1.0, device["used_percent"] / 100), text=f"{device['used_percent']:.0f}% used")
        if device["other_processes"]:
            others = pd.DataFrame([{**p, "memory": format_bytes(p["used_bytes"])} for p in device["other_processes"]],
                                  columns=["pid", "name", "memory"])
            st.caption("Other processes on this GPU")
            st.dataframe(others, hide_index=True, width="stretch")
    st.caption(f"Monitor: peak {monitor.get('peak_percent')}%, average {monitor.get('average_percent')}%, "
               f"alert at {monitor.get('alert_percent')}%")
