"""The Quick start page through AppTest against a real daemon: it is the page the app opens on, with
the demo folder filled in; its form starts the pipeline, its stages show as they run, and at the end
the adapter's files are named and the samples play (audio fetched from the daemon)."""
from __future__ import annotations

import time

import pytest

from shared.client import FINISHED
from tests.conftest import open_page


def _wait_for_pipeline(client, timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipelines = [j for j in client.jobs() if j["kind"] == "pipeline"]
        if pipelines and pipelines[-1]["state"] in FINISHED:
            return pipelines[-1]
        time.sleep(1.0)
    raise AssertionError(f"the pipeline did not end within {timeout} s")


def test_the_app_opens_on_quick_start_with_the_demo_folder(daemon_proc, monkeypatch, tmp_path):
    monkeypatch.setenv("ACESTEP_DEMO_ROOT", str(tmp_path / "demo"))
    at = open_page(monkeypatch, daemon_proc.home)
    assert at.title[0].value == "Quick start"
    assert at.text_input(key="quick.folder").value == str(tmp_path / "demo" / "dataset")
    assert any("No pipeline yet" in info.value for info in at.info)


@pytest.mark.slow
def test_the_form_runs_the_pipeline_and_the_page_plays_its_samples(daemon_proc, songs, monkeypatch):
    at = open_page(monkeypatch, daemon_proc.home, "pages/quick_start.py")
    at.text_input(key="quick.folder").set_value(str(songs))
    at.text_input(key="quick.trigger").set_value("sks")
    at.selectbox(key="quick.more.provider").set_value("none")
    at.number_input(key="quick.more.sample_seconds").set_value(2.0)
    at.text_input(key="quick.more.preprocess_overrides").set_value("max_duration=1")
    at.text_input(key="quick.more.train_overrides").set_value("epochs=1, max_steps=2, sample_every_epochs=0")
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any(h.value.endswith((": queued", ": running")) for h in at.subheader)  # as far as it got by then

    pipeline = _wait_for_pipeline(daemon_proc.client)
    assert pipeline["state"] == "done", pipeline.get("error")
    at.run()
    stages = [m.value for m in at.markdown if m.value.count("**") == 2 and ":material/" in m.value]
    assert len(stages) == 6 and all(s.endswith(": done") for s in stages), stages
    assert pipeline["result"]["comfyui"] in at.success[0].value
    assert len(at.get("audio")) == 2  # the samples at strengths 0 and 1
    log = next(e for e in at.expander if "preprocess" in e.label)
    assert any("sample(s) to encode" in t.value for t in log.text)
