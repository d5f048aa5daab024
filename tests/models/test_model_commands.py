"""The model commands through a real daemon: checkpoints, load job, unload, gpu, failed loads."""
from __future__ import annotations

import shutil

import pytest

from shared.errors import ProtocolError, SettingsError


def test_checkpoints_lists_the_demo_and_manages_user_roots(daemon, demo_root, tmp_path):
    reply = daemon.request("checkpoints", {})
    assert [c["name"] for c in reply["checkpoints"]] == ["acestep-v15-demo"]
    demo = reply["checkpoints"][0]
    assert demo["kind"] == "turbo" and demo["vae"].endswith("vae") and demo["size_bytes"] > 0
    assert [r["source"] for r in reply["roots"]] == ["configured", "demo"]
    other = tmp_path / "my-checkpoints"
    shutil.copytree(demo_root / "checkpoints" / "acestep-v15-demo", other / "acestep-v15-mine")
    added = daemon.request("checkpoints", {"add_root": str(other)})
    assert added["add_root"] == str(other)
    assert {c["name"] for c in added["checkpoints"]} == {"acestep-v15-demo", "acestep-v15-mine"}
    mine = next(c for c in added["checkpoints"] if c["name"] == "acestep-v15-mine")
    assert mine["vae"] is None  # no vae/ beside it
    removed = daemon.request("checkpoints", {"remove_root": str(other)})
    assert [c["name"] for c in removed["checkpoints"]] == ["acestep-v15-demo"]
    with pytest.raises(ProtocolError):
        daemon.request("checkpoints", {"add_root": 5})


def test_load_job_unload_and_status(daemon, demo_root):
    assert daemon.request("models", {})["components"] == {}  # lazy: nothing loaded at start
    job_id = daemon.submit("load", {"checkpoint": "acestep-v15-demo", "components": ["dit", "silence_latent"]})
    job = daemon.wait(job_id, timeout=120)
    assert job["state"] == "done", job.get("error")
    assert len(job["result"]["fingerprint"]) == 16
    models = daemon.status()["models"]
    assert set(models["components"]) == {"dit", "silence_latent"}
    assert models["selected"]["name"] == "acestep-v15-demo" and models["dtype"] == "float32"
    unloaded = daemon.request("unload", {"components": ["silence_latent"]})
    assert unloaded["unloaded"] == ["silence_latent"] and set(unloaded["models"]["components"]) == {"dit"}
    assert daemon.request("unload", {})["models"]["components"] == {}
    with pytest.raises(SettingsError, match="unknown"):
        daemon.submit("load", {"components": ["lm"]})


def test_failed_load_names_the_file_and_the_daemon_keeps_serving(daemon, demo_root, tmp_path):
    broken = tmp_path / "broken" / "acestep-v15-broken"
    shutil.copytree(demo_root / "checkpoints" / "acestep-v15-demo", broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    job = daemon.wait(daemon.submit("load", {"checkpoint": str(broken)}), timeout=120)
    assert job["state"] == "failed"
    assert job["error"]["ename"] == "CheckpointError" and str(weights) in job["error"]["evalue"]
    assert daemon.ping()["pong"]
    job = daemon.wait(daemon.submit("load", {"checkpoint": "acestep-v15-demo"}), timeout=120)
    assert job["state"] == "done"


def test_gpu_command_answers_on_any_machine(daemon):
    reply = daemon.request("gpu", {})
    assert "monitor" in reply
    if not reply["available"]:
        assert reply["reason"].startswith("no GPU") and reply["monitor"]["running"] is False
