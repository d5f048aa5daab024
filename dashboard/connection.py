"""The page's link to the daemon: one client per browser session, and starting a daemon."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import streamlit as st

from shared import home as homes
from shared.client import StudioClient
from shared.errors import StudioError

ROOT = Path(__file__).resolve().parents[1]


def get_client() -> StudioClient | None:
    """A connected client, or None when no daemon answers (the page then says so)."""
    client: StudioClient | None = st.session_state.get("_studio_client")
    try:
        if client is None:
            client = StudioClient(timeout=5.0, retries=1)
        client.ping(timeout=1.0)
    except StudioError as err:
        if client is not None:
            client.close()
        st.session_state.pop("_studio_client", None)
        st.session_state["_studio_error"] = str(err)
        return None
    st.session_state["_studio_client"] = client
    return client


def last_connection_error() -> str:
    return st.session_state.get("_studio_error", "")


def start_daemon(timeout: float = 30.0) -> bool:
    """Start a daemon for this studio home in the background; True once it answers. It belongs to
    this dashboard process: it stops gracefully (its job saves first) when this process exits."""
    home = homes.studio_home()
    args = [sys.executable, str(ROOT / "run_daemon.py"), "--home", str(home), "--owner-pid", str(os.getpid())]
    demo_root = os.environ.get("ACESTEP_DEMO_ROOT")
    if demo_root:
        args += ["--demo-root", demo_root]
    with open(homes.log_file(home).with_suffix(".stderr"), "ab") as log:
        subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get_client() is not None:
            return True
        time.sleep(0.2)
    return False


def lifecycle_note(snapshot: dict) -> str:
    """Whether the daemon ends with the dashboard that started it, or runs on its own."""
    owner = snapshot.get("owner_pid")
    if owner is None:
        return "Started on its own: it keeps running when the dashboard exits."
    who = "this dashboard" if owner == os.getpid() else f"the dashboard with pid {owner}"
    return f"Started by {who}: it stops when that dashboard exits (a running job saves first)."


def require_client() -> StudioClient:
    """The client; without a daemon, a clear message with a button to start one, and the page stops."""
    client = get_client()
    if client is None:
        st.warning(f"The daemon is not running. {last_connection_error()}")
        if st.button("Start the daemon", key="start_daemon"):
            with st.spinner("Starting the daemon..."):
                ok = start_daemon()
            if ok:
                st.rerun()
            st.error("The daemon did not start; see daemon.stderr in the studio home.")
        st.stop()
    return client


def followed_job(client: StudioClient, key: str) -> dict | None:
    """The job a page started and keeps the id of under session key `key`: the daemon's summary of
    it, or None when none was started or the daemon cannot say (its error shown)."""
    job_id = st.session_state.get(key)
    if not job_id:
        return None
    try:
        return client.job(job_id)
    except StudioError as err:
        st.error(str(err))
        return None
