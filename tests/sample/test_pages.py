"""The Samples and Export pages through AppTest against a real daemon: the grid's cells play audio
and show spectrograms fetched from the daemon, the Generate form's clips land in the grid, and the
Export page's forms run export and merge jobs on the run's adapter."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from daemon.sample.clips import write_clip
from tests.conftest import open_page


def make_run(home: Path, adapter: Path, run_id: str = "20250101-000000-train-abc123") -> Path:
    """A finished training run folder with final/ and two epochs of samples at two strengths."""
    run = home / "runs" / run_id
    run.mkdir(parents=True)
    (run / "job.json").write_text(json.dumps({"id": run_id, "kind": "train", "state": "done", "result": {}}))
    (run / "settings.json").write_text(json.dumps({"kind": "train", "settings": {}}))
    shutil.copytree(adapter, run / "final")
    t = np.linspace(0, 1, 48_000, dtype=np.float32)
    for epoch in (1, 2):
        for strength in (0.5, 1.5):
            audio = np.stack([np.sin(2 * np.pi * 220 * epoch * strength * t)] * 2) * 0.3
            write_clip(run / "samples" / f"epoch_{epoch}", f"p0_s{strength:g}", audio, "flac",
                       {"group": f"epoch_{epoch}", "label": f"epoch {epoch}", "epoch": epoch, "prompt_index": 0,
                        "prompt": "sks, lofi beat", "strength": strength, "seed": 1, "seconds": 5.12})
    return run


def _wait_done(client, kind: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in client.jobs() if j["kind"] == kind]
        if jobs and jobs[-1]["state"] in ("done", "failed", "cancelled", "stopped"):
            return jobs[-1]
        time.sleep(0.3)
    raise AssertionError(f"no finished {kind} job within {timeout} s")


def test_samples_grid_plays_every_cell_and_generated_clips_join_it(daemon_proc, demo_root, lora_folder,
                                                                   monkeypatch):
    run = make_run(daemon_proc.home, lora_folder)
    at = open_page(monkeypatch, daemon_proc.home, "pages/samples.py")
    assert len(at.get("audio")) == 4 and len(at.get("image")) == 4  # 2 epochs x 2 strengths
    assert [m.value for m in at.markdown if m.value.startswith("**strength")] == ["**strength 0.5**",
                                                                                 "**strength 1.5**"]

    at.number_input(key=f"samples.gen.{run.name}.seconds").set_value(2.0)
    at.text_input(key=f"samples.gen.{run.name}.strengths").set_value("1.0")
    at.button[-1].click().run()  # Generate
    job = _wait_done(daemon_proc.client, "generate")
    assert job["state"] == "done", job.get("error")
    at.run()
    labels = [m.value for m in at.markdown]
    assert any(label.startswith("generated") for label in labels)
    assert len(at.get("audio")) == 5  # the generated clip, at strength 1.0, in its own row


def test_export_page_exports_and_merges_the_chosen_adapter(daemon_proc, demo_root, lora_folder, tmp_path,
                                                           monkeypatch):
    run = make_run(daemon_proc.home, lora_folder)
    at = open_page(monkeypatch, daemon_proc.home, "pages/export.py")
    assert at.radio(key=f"export.output.{run.name}").value == str(run / "final")
    at.button[0].click().run()  # Export (ComfyUI, the default)
    job = _wait_done(daemon_proc.client, "export")
    assert job["state"] == "done", job.get("error")
    assert Path(job["result"]["files"][0]).parent == run / "exports"

    at.text_input(key="export.mrg.checkpoints_dir").set_value(str(tmp_path))
    at.text_input(key="export.mrg.name").set_value("acestep-v15-from-page")
    at.button[1].click().run()  # Merge
    job = _wait_done(daemon_proc.client, "merge")
    assert job["state"] == "done", job.get("error")
    assert (tmp_path / "acestep-v15-from-page" / "model.safetensors").is_file()
    at.run()
    assert any("acestep-v15-from-page" in c.value for c in at.caption)
    strip = open_page(monkeypatch, daemon_proc.home).caption[0].value  # the workflow strip, on any page
    assert ":material/check_circle: Export" in strip

