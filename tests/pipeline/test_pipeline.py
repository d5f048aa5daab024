"""The pipeline through a real daemon and the `pipeline` verb: two unlabelled demo songs end as an
adapter, a ComfyUI file and samples at strengths 0 and 1; a rerun reuses every stage (and remakes
an output deleted by hand); a changed preprocessing setting reruns preprocessing and what depends
on it, never the scan or the labels; songs that cannot be decoded stop it at preprocessing with the
reason, and a rerun starts there."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.dataset import load_dataset

from .conftest import children, last_pipeline, run_pipeline

ALL_STAGES = ["dataset_scan", "caption", "preprocess", "train", "export", "export", "generate"]


def _assert_outputs(client, result: dict) -> None:
    """A PEFT adapter with the trigger word, a ComfyUI file, and one playable clip per strength."""
    from safetensors import safe_open

    adapter = Path(result["adapter"])
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert json.loads((adapter / "adapter_config.json").read_text())["trigger_word"] == "sks"
    with safe_open(result["comfyui"], "pt") as comfy:
        keys = list(comfy.keys())
    assert keys and all(k.startswith("diffusion_model.decoder.") for k in keys)
    clips = [c for c in client.run_samples(result["train_run"]) if c["group"] in result["samples"]["groups"]]
    assert sorted(c["strength"] for c in clips) == [0.0, 1.0]
    assert all(client.run_file(result["train_run"], c["audio"])[:4] == b"fLaC" for c in clips)


@pytest.mark.slow
def test_songs_become_an_exported_adapter_with_samples_and_a_rerun_redoes_only_what_changed(
        daemon_proc, songs, capsys):
    client = daemon_proc.client
    code, out, err = run_pipeline(daemon_proc.home, capsys, songs)
    assert code == 0, err
    first = last_pipeline(client)
    assert children(client, first["id"]) == ALL_STAGES
    result = first["result"]
    _assert_outputs(client, result)
    assert f"adapter: {result['adapter']}" in out
    assert "preset quick_test chosen" in err and "no GPU" in err  # the choice said out loud
    march = load_dataset(songs / "dataset.json").find("vocal/march.wav")
    assert (march.bpm, march.keyscale) == (112, "Bb major")  # signal analysis labelled it
    assert march.lyrics.startswith("[chorus]")  # what the user had is kept

    code, _, err = run_pipeline(daemon_proc.home, capsys, songs)
    assert code == 0, err
    again = last_pipeline(client)
    assert children(client, again["id"]) == []
    assert {s["state"] for s in again["result"]["stages"].values()} == {"reused"}
    assert again["result"]["adapter"] == result["adapter"]

    Path(result["comfyui"]).unlink()  # an output deleted by hand: only the job that made it runs again
    code, _, err = run_pipeline(daemon_proc.home, capsys, songs)
    assert code == 0, err
    assert children(client, last_pipeline(client)["id"]) == ["export"] and Path(result["comfyui"]).is_file()

    code, _, err = run_pipeline(daemon_proc.home, capsys, songs, "--preprocess-set", "normalize=peak")
    assert code == 0, err
    changed = last_pipeline(client)
    assert children(client, changed["id"]) == ["preprocess", "train", "export", "export", "generate"]
    assert [changed["result"]["stages"][s]["state"] for s in ("scan", "label")] == ["reused", "reused"]
    assert changed["result"]["train_run"] != result["train_run"]
    _assert_outputs(client, changed["result"])
    assert Path(result["adapter"], "adapter_model.safetensors").is_file()  # the first adapter is kept


@pytest.mark.slow
def test_songs_that_cannot_be_decoded_stop_it_at_preprocessing_and_a_rerun_starts_there(daemon_proc, songs, capsys):
    for wav in songs.rglob("*.wav"):  # the header promises twice the audio the file holds
        data = wav.read_bytes()
        wav.write_bytes(data[: len(data) // 2])
    client = daemon_proc.client
    code, _, err = run_pipeline(daemon_proc.home, capsys, songs)
    assert code == 1
    failed = last_pipeline(client)
    assert failed["state"] == "failed" and children(client, failed["id"]) == ["dataset_scan", "caption", "preprocess"]
    reason = failed["error"]["evalue"]
    assert "preprocess stage failed" in reason and "march.wav" in reason and "truncated WAV" in reason
    assert reason in err
    assert load_dataset(songs / "dataset.json").options.trigger_word == "sks"  # the scan's work is kept

    code, _, _ = run_pipeline(daemon_proc.home, capsys, songs)
    assert code == 1
    rerun = last_pipeline(client)
    assert children(client, rerun["id"]) == ["preprocess"]
    assert [rerun["progress"]["stages"][s]["state"] for s in ("scan", "label", "preprocess")] == [
        "reused", "reused", "failed"]
