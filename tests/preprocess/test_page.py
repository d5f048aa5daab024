"""The Preprocess page through Streamlit's AppTest: the form, submitting, errors, the files table."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from daemon.preprocess.tensor_folder import MANIFEST_FORMAT, write_manifest, write_sample
from shared.dataset import Sample
from tests.conftest import open_page
from tests.preprocess.helpers import make_dataset, write_tone



def test_page_submits_and_shows_the_jobs_error_then_the_folder(daemon, monkeypatch, tmp_path):
    write_tone(tmp_path / "songs" / "a.wav", 0.5)
    dataset = make_dataset(tmp_path / "songs", [Sample(audio="a.wav", caption="tone")])
    out = tmp_path / "tensors"
    at = open_page(monkeypatch, daemon.home, "pages/preprocess.py")
    assert at.selectbox(key="preprocess.normalize").options == ["none", "peak", "lufs", "peak_lufs"]
    at.text_input(key="preprocess.dataset").set_value(str(dataset))
    at.text_input(key="preprocess.output_dir").set_value(str(out))
    at.selectbox(key="preprocess.normalize").set_value("lufs")
    at.text_input(key="preprocess.checkpoint").set_value("no-such-model")
    at.button(key="preprocess.start").click().run()
    assert not at.exception, at.exception
    job = daemon.jobs()[-1]
    assert job["kind"] == "preprocess"
    submitted = json.loads((Path(job["run_dir"]) / "settings.json").read_text())["settings"]
    assert submitted["normalize"] == "lufs" and submitted["output_dir"] == str(out)
    deadline = time.monotonic() + 30
    while daemon.job(job["id"])["state"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    # no such checkpoint: the job fails and the page says why
    assert any("no-such-model" in e.value for e in at.error), [e.value for e in at.error]

    out.mkdir()  # a folder made earlier: the page lists its files from the manifest
    tensors = {"target_latents": torch.zeros(25, 64), "attention_mask": torch.ones(25),
               "encoder_hidden_states": torch.zeros(40, 16), "encoder_attention_mask": torch.ones(40, dtype=torch.bool),
               "context_latents": torch.zeros(25, 128)}
    entry = write_sample(out / "a.safetensors", tensors, {})
    entry["summary"] = {"filename": "a.wav", "duration": 1.0, "text_tokens": 30, "lyric_tokens": 9,
                        "loudness": {"mode": "lufs", "gain_db": 3.0}}
    write_manifest(out, {"format": MANIFEST_FORMAT, "version": 1, "model": {"name": "demo", "fingerprint": "f"},
                         "files": [entry], "errors": [{"file": "b.wav", "reason": "b.wav: silent"}]})
    at.run()
    files = at.dataframe[0].value
    assert list(files.columns) == ["Tensor file", "Audio", "Seconds", "Latent frames", "Condition tokens",
                                   "Text tokens", "Lyric tokens", "Loudness", "Size (MB)"]
    assert list(files["Latent frames"]) == [25] and list(files["Text tokens"]) == [30]
    assert at.dataframe[0].proto.HasField("placeholder") and at.dataframe[0].proto.placeholder == ""  # blank, not None
    assert list(at.dataframe[1].value["Why it was skipped"]) == ["b.wav: silent"]


def test_a_fresh_session_is_prefilled_and_errors_name_labels(daemon, monkeypatch, tmp_path):
    write_tone(tmp_path / "songs" / "a.wav", 0.5)
    dataset = make_dataset(tmp_path / "songs", [Sample(audio="a.wav", caption="tone")])
    at = open_page(monkeypatch, daemon.home, "pages/preprocess.py")
    assert at.text_input(key="preprocess.dataset").value == ""  # nothing opened in this dashboard yet
    at.button(key="preprocess.start").click().run()
    assert [e.value for e in at.error] == ["Dataset file: a path is required"]

    # a dataset opened on the Dataset page; then a new browser session opens Preprocess
    dataset_page = open_page(monkeypatch, daemon.home, "app.py")
    dataset_page.switch_page("pages/dataset.py").run()
    dataset_page.text_input(key="dataset.open.path").set_value(str(dataset))
    dataset_page.button(key="dataset.open").click().run()
    assert not dataset_page.exception
    at = open_page(monkeypatch, daemon.home, "pages/preprocess.py")
    assert at.text_input(key="preprocess.dataset").value == str(dataset)
    assert at.text_input(key="preprocess.output_dir").value == str(tmp_path / "songs" / "tensors")

    # a file that is not on the daemon's machine: refused at once, in the daemon's words, no job
    jobs_before = len(daemon.jobs())
    missing = tmp_path / "elsewhere" / "dataset.json"
    at.text_input(key="preprocess.dataset").set_value(str(missing))
    at.button(key="preprocess.start").click().run()
    assert [e.value for e in at.error] == [f"Dataset file: {missing} is not a file on the daemon's machine"]
    assert len(daemon.jobs()) == jobs_before
    # an output folder not written yet shows nothing; one with files another tool wrote lists them
    assert not at.dataframe
    other = tmp_path / "other-tensors"
    other.mkdir()
    (other / "x.pt").write_bytes(b"not read")
    at.text_input(key="preprocess.output_dir").set_value(str(other)).run()
    assert list(at.dataframe[0].value["file"]) == ["x.pt"]
    assert any("no model fingerprint" in w.value for w in at.warning)
