"""The workflow strip through AppTest against a real daemon: right on the first page a browser
session opens, whichever it is, and only steps the daemon has a job kind for."""
from __future__ import annotations

import json
from pathlib import Path

from dashboard.workflow import shown_steps
from tests.conftest import open_page

DONE = ":material/check_circle:"
OPEN = ":material/radio_button_unchecked:"


def strip(at) -> str:
    return next(c.value for c in at.caption if "→" in c.value)


def write_run(home: Path, run_id: str, state: str) -> None:
    """A run folder as an earlier daemon left it (the daemon lists it from its job.json)."""
    folder = home / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"id": run_id, "kind": run_id.split("-")[2], "state": state}))


def test_the_first_page_of_a_session_shows_the_runs_done(daemon, monkeypatch):
    """Runs of an earlier daemon count; the strip is drawn before the page connects (AppTest runs
    the app's first page only: the e2e walk opens other pages first)."""
    write_run(Path(daemon.home), "20250101-100000-preprocess-aaaaaa", "done")
    write_run(Path(daemon.home), "20250101-110000-train-bbbbbb", "done")
    at = open_page(monkeypatch, daemon.home, "app.py")
    assert strip(at) == f"{DONE} Dataset  →  {DONE} Preprocess  →  {DONE} Train  →  {OPEN} Export"


def test_a_failed_run_is_not_a_step_done(daemon, monkeypatch):
    write_run(Path(daemon.home), "20250101-100000-preprocess-aaaaaa", "failed")
    at = open_page(monkeypatch, daemon.home)
    assert strip(at) == f"{OPEN} Dataset  →  {OPEN} Preprocess  →  {OPEN} Train  →  {OPEN} Export"


def test_a_step_without_a_job_kind_in_the_daemon_is_not_shown():
    assert shown_steps({"preprocess", "train"}) == ["Dataset", "Preprocess", "Train"]
    assert shown_steps(None) == ["Dataset", "Preprocess", "Train", "Export"]  # no daemon: all
