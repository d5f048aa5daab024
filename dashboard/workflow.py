"""The workflow strip at the top of every page: which steps of the way to an adapter are done.

Derived from real state: the Dataset page's working copy (or a saved dataset file), and the jobs
the daemon ran (a preprocess or train job that ended "done"). The daemon is asked only through a
client already cached by a page, with a short timeout, so the strip never blocks a page.
"""
from __future__ import annotations

import streamlit as st

from dashboard.components import dataset_state
from shared.errors import StudioError

STEPS = ("Dataset", "Preprocess", "Train", "Export")
JOB_STEPS = {"preprocess": "Preprocess", "train": "Train", "export": "Export", "merge": "Export"}
JOBS_TIMEOUT_S = 0.5


def render_workflow_strip() -> None:
    done = done_steps()
    # Material icons render everywhere; emoji need a colour-emoji font the machine may lack.
    cells = [f"{':material/check_circle:' if step in done else ':material/radio_button_unchecked:'} {step}"
             for step in STEPS]
    st.caption("  →  ".join(cells))


def done_steps() -> set[str]:
    """Steps marked by pages, plus those the session state and the daemon's jobs show done."""
    done = set(st.session_state.setdefault("workflow_done", set()))
    if dataset_state.current() is not None or dataset_state.current_path():
        done.add("Dataset")
    done.update(JOB_STEPS[j["kind"]] for j in _jobs() if j.get("state") == "done" and j.get("kind") in JOB_STEPS)
    return done


def _jobs() -> list[dict]:
    client = st.session_state.get("_studio_client")
    if client is None:
        return []
    try:
        return client.request("jobs", timeout=JOBS_TIMEOUT_S, retries=0).get("jobs", [])
    except StudioError:
        return []


def mark_done(step: str) -> None:
    st.session_state.setdefault("workflow_done", set()).add(step)
