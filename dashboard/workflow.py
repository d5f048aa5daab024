"""The workflow strip at the top of every page: which steps of the way to an adapter are done.

Derived from real state, the same on whichever page a browser session opens first: the Dataset
page's working copy (or a saved dataset file), and the runs the daemon lists (a preprocess or train
run that ended "done", in this daemon or an earlier one). A step whose job kind the daemon does not
have (no export yet) is not shown. The daemon is asked with a short timeout, so the strip never
blocks a page; without a daemon it shows what the session knows.
"""
from __future__ import annotations

import streamlit as st

from dashboard.components import dataset_state
from dashboard.connection import get_client
from shared.errors import StudioError

# (step, the job kind that does it; None: a page of its own, always shown)
STEPS = (("Dataset", None), ("Preprocess", "preprocess"), ("Train", "train"), ("Export", "export"))
ALSO_DONE_BY = {"merge": "Export"}  # other job kinds that complete a step
TIMEOUT_S = 0.5


def render_workflow_strip() -> None:
    kinds, done_kinds = _daemon_state()
    done = done_steps(done_kinds)
    shown = shown_steps(kinds)
    # Material icons render everywhere; emoji need a colour-emoji font the machine may lack.
    cells = [f"{':material/check_circle:' if step in done else ':material/radio_button_unchecked:'} {step}"
             for step in shown]
    st.caption("  →  ".join(cells))


def shown_steps(kinds: set[str] | None) -> list[str]:
    """The steps to show: those of a page, and those whose job kind the daemon has (all without one)."""
    return [step for step, kind in STEPS if kind is None or kinds is None or kind in kinds]


def done_steps(done_kinds: set[str]) -> set[str]:
    """Steps marked by pages, the dataset the session has open, and the kinds of the runs done.

    A finished preprocess run was made from a dataset, so the Dataset step is done too."""
    done = set(st.session_state.setdefault("workflow_done", set()))
    done.update(step for step, kind in STEPS if kind in done_kinds)
    done.update(step for kind, step in ALSO_DONE_BY.items() if kind in done_kinds)
    if dataset_state.current() is not None or dataset_state.current_path() or "preprocess" in done_kinds:
        done.add("Dataset")
    return done


def _daemon_state() -> tuple[set[str] | None, set[str]]:
    """(the daemon's job kinds, the kinds of its runs that ended done); (None, set()) without it."""
    client = st.session_state.get("_studio_client") or get_client()
    if client is None:
        return None, set()
    try:
        kinds = set(client.request("status", {"metrics_limit": 0}, timeout=TIMEOUT_S, retries=0)["job_kinds"])
        asked = [k for _, k in STEPS if k] + list(ALSO_DONE_BY)
        runs = client.request("runs", {"kinds": asked}, timeout=TIMEOUT_S, retries=0)["runs"]
    except StudioError:
        return None, set()
    return kinds, {r["kind"] for r in runs if r["state"] == "done"}


def mark_done(step: str) -> None:
    st.session_state.setdefault("workflow_done", set()).add(step)
