"""The models panel (dashboard) through Streamlit's AppTest, against a real daemon."""
from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest


def panel_script(home: str) -> None:
    from dashboard.components.models_panel import render_models_panel
    from shared.client import StudioClient

    render_models_panel(StudioClient(home))


def open_panel(home) -> AppTest:
    at = AppTest.from_function(panel_script, args=(str(home),), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_panel_lists_checkpoints_loads_and_unloads(daemon, demo_root, tmp_path):
    at = open_panel(daemon.home)
    checkpoints = at.dataframe[1].value
    assert list(checkpoints["name"]) == ["acestep-v15-demo"]
    gpu = daemon.request("gpu", {})
    if gpu["available"]:  # the daemon's GPUs by name, with their memory
        names = {m.value for m in at.metric if m.label.startswith("GPU ")}
        assert names == {d["name"] for d in gpu["devices"]}
    else:  # why there is none, in the daemon's words
        assert [i.value for i in at.info if i.value == gpu["reason"]]
    at.multiselect(key="models.components").set_value(["silence_latent"]).run()
    at.button(key="models.load").click().run()
    assert not at.exception
    deadline = time.monotonic() + 60
    while not daemon.request("models", {})["components"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(daemon.request("models", {})["components"]) == {"silence_latent"}
    at = open_panel(daemon.home)
    assert "silence_latent" in set(at.dataframe[2].value["component"])
    at.button(key="models.unload").click().run()
    assert daemon.request("models", {})["components"] == {}


def test_panel_adds_and_removes_a_folder(daemon, demo_root, tmp_path):
    at = open_panel(daemon.home)
    at.text_input(key="models.add_path").set_value(str(tmp_path)).run()
    at.button(key="models.add_root").click().run()
    assert not at.exception
    assert str(tmp_path) in [r["path"] for r in daemon.request("checkpoints", {})["roots"]]
    at = open_panel(daemon.home)
    at.selectbox(key="models.remove_path").set_value(str(tmp_path)).run()
    at.button(key="models.remove_root").click().run()
    assert str(tmp_path) not in [r["path"] for r in daemon.request("checkpoints", {})["roots"]]
