"""Tensor folders both ways with ACE-Step's own trainer: a folder in ACE-Step's layout lists its
samples, warns that it records no model, and carries its trigger word into the adapter; a studio
folder exported for ACE-Step loads with `torch.load(weights_only=True)` and has ACE-Step's manifest."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from shared.cli import main

from .conftest import write_tensor_folder

TRAIN_FLAGS = ["--set", "rank=4", "--set", "alpha=8", "--set", "epochs=1", "--set", "batch_size=1",
               "--set", "gradient_accumulation=1", "--set", "warmup_steps=0", "--set", "save_every_epochs=0",
               "--set", "crop_frames=0", "--set", "best_warmup_epochs=0"]
TENSOR_KEYS = ("target_latents", "attention_mask", "encoder_hidden_states", "encoder_attention_mask",
               "context_latents")


def acestep_folder(folder: Path, samples: list[dict], custom_tag: str = "zxq") -> Path:
    """What ACE-Step's preprocessing writes: one `.pt` dict per sample, a manifest of absolute paths."""
    folder.mkdir(parents=True)
    paths = []
    for i, sample in enumerate(samples):
        path = folder / f"sample_{i:03d}.pt"
        torch.save({**{k: sample[k] for k in TENSOR_KEYS}, "metadata": {
            "audio_path": f"/music/song{i}.wav", "filename": f"song{i}.wav", "caption": f"{custom_tag}, synth pop",
            "lyrics": "[Instrumental]", "duration": 1.0, "bpm": 120, "keyscale": "C major",
            "timesignature": "4", "language": "unknown", "is_instrumental": True, "preprocess_mode": "lora"}}, path)
        paths.append(str(path))
    (folder / "manifest.json").write_text(json.dumps({
        "metadata": {"name": "my songs", "custom_tag": custom_tag, "tag_position": "append",
                     "created_at": "2025-01-01T00:00:00", "num_samples": len(paths), "all_instrumental": True,
                     "genre_ratio": 0},
        "samples": paths, "num_samples": len(paths)}))
    return folder


def test_an_acestep_folder_lists_its_samples_and_trains_with_its_trigger_word(daemon, dit_dir, tmp_path, samples,
                                                                             capsys):
    folder = acestep_folder(tmp_path / "acestep", samples[:3])
    assert main(["tensors", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "ACE-Step folder" in out and "samples  3" in out and "trigger  zxq (append)" in out
    assert all(f"sample_{i:03d}.pt" in out for i in range(3)) and "model    not recorded" in out
    assert "warning: " in err and "records no model fingerprint" in err

    code = main(["--home", str(daemon.home), "train", "--tensors", str(folder), "--set", f"checkpoint={dit_dir}",
                 *TRAIN_FLAGS, "--wait"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "warning: " in err and "records no model fingerprint" in err  # in the CLI's output, not only the log
    job = daemon.jobs()[-1]
    run = Path(job["run_dir"])
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    preflight = next(e["data"] for e in events if e["type"] == "train_preflight")
    assert any("records no model fingerprint" in note for note in preflight["notes"])
    assert preflight["trigger_word"] == "zxq" and preflight["tag_position"] == "append"
    config = json.loads((run / "final" / "adapter_config.json").read_text())
    assert (config["trigger_word"], config["tag_position"]) == ("zxq", "append")


def test_an_exported_folder_loads_with_weights_only_and_has_acesteps_manifest(daemon, tmp_path, samples, capsys):
    from daemon.preprocess.tensor_folder import open_tensor_folder

    source = write_tensor_folder(tmp_path / "studio", samples[:2], trigger_word="sks", tag_position="replace")
    out = tmp_path / "for_acestep"
    code = main(["--home", str(daemon.home), "tensors", "export", str(source), "--format", "acestep", "-o", str(out),
                 "--wait"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["num_samples"] == 2 and len(manifest["samples"]) == 2
    assert all(Path(p).is_absolute() and p.endswith(".pt") and Path(p).is_file() for p in manifest["samples"])
    meta = manifest["metadata"]
    assert (meta["custom_tag"], meta["tag_position"], meta["num_samples"]) == ("sks", "replace", 2)
    assert {"name", "created_at", "all_instrumental", "genre_ratio"} <= set(meta)
    studio = open_tensor_folder(source)
    for index, path in enumerate(manifest["samples"]):
        data = torch.load(path, map_location="cpu", weights_only=True)
        mine = studio.load(index)
        for key in TENSOR_KEYS:
            assert torch.equal(data[key], mine[key]), key
        assert {"audio_path", "filename", "caption", "lyrics", "duration", "bpm", "keyscale", "timesignature",
                "language", "is_instrumental"} <= set(data["metadata"])
    assert len(open_tensor_folder(out)) == 2  # and the studio reads it back

    code = main(["--home", str(daemon.home), "tensors", "export", str(source), "--format", "acestep", "-o", str(out),
                 "--wait"])
    assert code == 1 and "is not empty" in capsys.readouterr().err
