"""The model commands through a real daemon: checkpoints, load job, unload, gpu, failed loads."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.errors import ProtocolError, SettingsError

ROOT = Path(__file__).resolve().parents[2]


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
        daemon.submit("load", {"components": ["vocoder"]})


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


def cli(home, *args):
    return subprocess.run([sys.executable, "-m", "shared.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_cli_verbs(daemon_proc, demo_root):
    home = daemon_proc.home
    listed = cli(home, "--json", "checkpoints")
    assert listed.returncode == 0, listed.stderr
    assert [c["name"] for c in json.loads(listed.stdout)["checkpoints"]] == ["acestep-v15-demo"]
    loaded = cli(home, "--json", "load", "acestep-v15-demo", "--components", "silence_latent", "--wait")
    assert loaded.returncode == 0, loaded.stderr
    table = cli(home, "checkpoints")
    assert "* " in table.stdout and "acestep-v15-demo" in table.stdout  # the selected one is marked
    assert "silence_latent" in cli(home, "unload").stdout
    gpu = cli(home, "gpu")
    assert gpu.returncode == 0 and gpu.stdout.strip()
    bad = cli(home, "load", "no-such-model", "--wait")
    assert bad.returncode == 1 and "no-such-model" in bad.stderr


def test_demo_writer_skips_what_is_up_to_date(demo_root):
    done = subprocess.run([sys.executable, "-m", "daemon.demo", "--json", "--root", str(demo_root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["checkpoint"]["written"] is False
    assert result["checkpoint"]["dit"] == str(demo_root / "checkpoints" / "acestep-v15-demo")
