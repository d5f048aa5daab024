"""The preprocess job on the demo model, run inline: tensors, prompts, bad files, resume, stop, two-pass."""
from __future__ import annotations

import pyloudnorm  # noqa: F401  (the LUFS check itself lives in test_audio; here: recorded in the manifest)
import pytest
import torch

from daemon.preprocess.plan import output_name
from daemon.preprocess.tensor_folder import check_fingerprint, open_tensor_folder, write_manifest
from shared.dataset import Sample
from shared.errors import TensorFolderError
from shared.preprocess_settings import PreprocessSettings
from shared.tensor_manifest import read_manifest
from tests.preprocess.helpers import make_dataset, write_bad_files, write_tone

TEXT_WITH_METAS = (
    "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n"
    "# Caption\ntrig, warm piano\n\n# Metas\n- bpm: 120\n- timesignature: 4\n- keyscale: C major\n"
    "- duration: 1 seconds\n<|endoftext|>\n"
)
TEXT_WITHOUT_METAS = (
    "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n"
    "# Caption\ntrig, drums\n\n# Metas\n- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n"
    "- duration: 1 seconds\n<|endoftext|>\n"
)


@pytest.fixture
def songs(tmp_path):
    """Two good clips (one 44.1 kHz mono, 1.5 s cut to 1 s) and the four bad files, in a dataset."""
    folder = tmp_path / "songs"
    write_tone(folder / "piano.wav", 1.0)
    write_tone(folder / "drums.wav", 1.5, rate=44_100, channels=1, freq=220)
    bad = write_bad_files(folder)
    samples = [Sample(audio="piano.wav", caption="warm piano", bpm=120, keyscale="C major", timesignature="4",
                      language="en", lyrics="la la la"),
               Sample(audio="drums.wav", caption="drums", is_instrumental=True)]
    samples += [Sample(audio=name, caption="broken") for name in bad]
    return make_dataset(folder, samples, trigger_word="trig")


def settings_for(dataset, out, **changes) -> PreprocessSettings:
    return PreprocessSettings(dataset=str(dataset), output_dir=str(out), max_duration=1.0, **changes)


def test_tensors_prompts_bad_files_and_resume(songs, tmp_path, run_inline, demo_manager):
    out = tmp_path / "tensors"
    first = run_inline(settings_for(songs, out))
    assert first.result["written"] == 2 and not first.result["stopped"]
    failed = {f["file"]: f["reason"] for f in first.result["failed"]}
    assert set(failed) == {"truncated.wav", "empty.wav", "text.wav", "silent.wav"}
    assert "truncated" in failed["truncated.wav"] and "empty" in failed["empty.wav"]
    assert "not an audio file" in failed["text.wav"] and "silent" in failed["silent.wav"]

    folder = open_tensor_folder(out)
    assert folder.kind == "studio" and len(folder) == 2
    folder.verify()
    assert check_fingerprint(folder, demo_manager.fingerprint(), "acestep-v15-demo")
    hidden = demo_manager.get("encoder").config.hidden_size
    piano, drums = folder.load(0), folder.load(1)
    for sample in (piano, drums):
        assert sample["target_latents"].shape == (25, 64) and sample["target_latents"].dtype == torch.float32
        assert sample["attention_mask"].shape == (25,) and bool((sample["attention_mask"] == 1).all())
        assert sample["context_latents"].shape == (25, 128) and bool((sample["context_latents"][:, 64:] == 1).all())
        length = sample["encoder_hidden_states"].shape[0]
        assert sample["encoder_hidden_states"].shape == (length, hidden)
        assert sample["encoder_attention_mask"].shape == (length,)
        assert sample["encoder_attention_mask"].dtype == torch.bool
        assert length == sample["metadata"]["text_tokens"] + sample["metadata"]["lyric_tokens"] + 1
    assert piano["metadata"]["text_prompt"] == TEXT_WITH_METAS
    assert drums["metadata"]["text_prompt"] == TEXT_WITHOUT_METAS  # 1.5 s cut to 1 s: duration says 1
    assert drums["metadata"]["cut"] and drums["metadata"]["lyrics_prompt"].endswith("[Instrumental]<|endoftext|>")

    manifest = read_manifest(out)
    assert manifest["settings"] == settings_for(songs, out).to_dict()
    assert manifest["dataset_file"] == "../songs/dataset.json" and len(manifest["errors"]) == 4
    assert manifest["trigger_word"] == piano["metadata"]["trigger_word"] == "trig"
    assert [f["path"] for f in manifest["files"]] == [output_name(Sample(audio="piano.wav")),
                                                      output_name(Sample(audio="drums.wav"))]

    again = run_inline(settings_for(songs, out))  # resume: finished files skipped, bad ones retried
    assert again.result["written"] == 0 and again.result["skipped_existing"] == 2
    assert len(again.result["failed"]) == 4
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *folder.names()])


def test_stop_rerun_two_pass_and_batching_give_the_same_tensors(tmp_path, run_inline):
    folder = tmp_path / "songs"
    names = ["a.wav", "b.wav", "c.wav"]
    for i, name in enumerate(names):
        write_tone(folder / name, 1.0, freq=200 + 100 * i)
    dataset = make_dataset(folder, [Sample(audio=n, caption=f"tone {n}") for n in names])

    single = tmp_path / "single"
    stopped = run_inline(settings_for(dataset, single), stop_after=1)
    assert stopped.result["stopped"] and stopped.result["written"] == 1
    assert len(read_manifest(single)["files"]) == 1
    rest = run_inline(settings_for(dataset, single))
    assert rest.result["written"] == 2 and rest.result["skipped_existing"] == 1

    double = tmp_path / "double"
    two = run_inline(settings_for(dataset, double, two_pass=True, batch_size=2))  # and clips batched
    assert two.result["written"] == 3 and not (double / ".pass1").exists()
    stages = [m["stage"] for m in two.of_type("memory")]
    assert "pass-1 models freed" in stages and stages.index("pass-1 models freed") < stages.index("pass 2 model loaded")
    a, b = open_tensor_folder(single), open_tensor_folder(double)
    for i in range(3):
        x, y = a.load(i), b.load(i)
        for key in ("target_latents", "encoder_hidden_states", "context_latents"):
            assert torch.allclose(x[key], y[key], atol=1e-5), key


def test_keep_long_clips_whole_and_lufs_is_recorded(tmp_path, run_inline):
    folder = tmp_path / "songs"
    write_tone(folder / "long.wav", 2.0, amplitude=0.02, noise=0.01)
    dataset = make_dataset(folder, [Sample(audio="long.wav", caption="long")])
    out = tmp_path / "kept"
    run = run_inline(settings_for(dataset, out, long_clips="keep", normalize="lufs", tile_seconds=2.0,
                                  tile_overlap=0.4))
    assert run.result["written"] == 1, run.result["failed"]
    sample = open_tensor_folder(out).load(0)
    assert sample["target_latents"].shape == (50, 64)  # 2 s kept whole (max_duration is 1 s), tiled
    assert "- duration: 2 seconds\n" in sample["metadata"]["text_prompt"]
    loudness = sample["metadata"]["loudness"]
    assert loudness["mode"] == "lufs" and abs(loudness["lufs_after"] - (-14.0)) < 0.5


def test_output_folder_of_another_model_is_refused(songs, tmp_path, run_inline):
    out = tmp_path / "other"
    out.mkdir()
    write_manifest(out, {"format": "acestep-studio-tensors", "version": 1, "files": [],
                         "model": {"name": "acestep-v15-base", "fingerprint": "0123456789abcdef"}})
    with pytest.raises(TensorFolderError, match="acestep-v15-base"):
        run_inline(settings_for(songs, out))
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "manifest.json").write_text('{"samples": ["a.pt"]}')
    with pytest.raises(TensorFolderError, match="another tool"):
        run_inline(settings_for(songs, legacy))
    assert (legacy / "manifest.json").read_text() == '{"samples": ["a.pt"]}'


def test_vae_speedups_are_exact_and_scoped(demo_manager):
    import numpy as np

    from daemon.preprocess.encode import Tiling, vae_encode
    from daemon.preprocess.speedups import vae_speedups

    vae = demo_manager.get("vae")
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 9600)).astype(np.float32)
    plain = vae_encode(vae, audio, Tiling(750, 50), torch.Generator().manual_seed(0))
    with vae_speedups(vae, torch.device("cpu")):
        fast = vae_encode(vae, audio, Tiling(750, 50), torch.Generator().manual_seed(0))
        assert any("forward" in vars(m) for m in vae.modules())
    assert torch.equal(plain, fast)
    assert not any("forward" in vars(m) for m in vae.modules())  # the manager's VAE is left as it was


def test_nan_after_encoding_is_reported_and_skipped(tmp_path, run_inline, monkeypatch):
    from daemon.preprocess import pipeline

    folder = tmp_path / "songs"
    for name in ("good.wav", "nan.wav"):
        write_tone(folder / name, 0.5)
    dataset = make_dataset(folder, [Sample(audio="nan.wav"), Sample(audio="good.wav")])
    real_second_stage = pipeline.second_stage

    def poisoned(half, encoder, silence):
        tensors = real_second_stage(half, encoder, silence)
        poisoned.calls += 1
        if poisoned.calls == 1:  # the first sample (nan.wav) comes out with a NaN
            tensors["encoder_hidden_states"] = tensors["encoder_hidden_states"].clone()
            tensors["encoder_hidden_states"][0, 0] = float("nan")
        return tensors

    poisoned.calls = 0
    monkeypatch.setattr(pipeline, "second_stage", poisoned)
    run = run_inline(settings_for(dataset, tmp_path / "out", min_duration=0.5))
    assert run.result["written"] == 1, run.result["failed"]
    assert [(f["file"], "NaN" in f["reason"]) for f in run.result["failed"]] == [("nan.wav", True)]
    assert run.of_type("file_error")[0]["file"] == "nan.wav"


def test_audio_outside_the_dataset_folder_is_refused_never_opened(tmp_path, run_inline):
    folder = tmp_path / "songs"
    write_tone(folder / "piano.wav", 1.0)
    secret = write_tone(tmp_path / "outside" / "secret.wav", 1.0, freq=330)
    (folder / "link.wav").symlink_to(secret)
    samples = [Sample(audio=path, caption="x") for path in
               ("piano.wav", "../outside/secret.wav", "/etc/passwd", "link.wav")]
    dataset = make_dataset(folder, samples)
    first = run_inline(settings_for(dataset, tmp_path / "tensors"))
    failed = {f["file"]: f["reason"] for f in first.result["failed"]}
    assert first.result["written"] == 1 and set(failed) == {"../outside/secret.wav", "/etc/passwd", "link.wav"}
    assert all(f"lies outside the dataset folder {folder}; refused, never opened" in r for r in failed.values())

    make_dataset(folder, samples, audio_root=str(tmp_path / "outside"))  # the user allows that one folder
    second = run_inline(settings_for(dataset, tmp_path / "tensors"))
    assert second.result["written"] == 2 and [f["file"] for f in second.result["failed"]] == ["/etc/passwd"]
