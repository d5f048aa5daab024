"""The local backend's whole path on a tiny randomly initialised Qwen2.5-Omni built here: load,
prompt, generate, parse, write sidecars; the model owned by the manager and freed after the batch."""
from __future__ import annotations

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from daemon.caption import clips as clips_module
from daemon.caption.batch import run_caption
from daemon.caption.demo_models import write_tiny_omni
from daemon.caption.omni import load_omni
from daemon.caption.sidecar import BLOCK
from shared.caption_settings import CaptionSettings
from shared.dataset_scan import scan_folder
from tests.caption.conftest import caption_manager
from tests.conftest import job_context

CAPTION_ANSWER = "A bold brass march with snare rolls and bright stacked chords.\nKey: Bb major\nGenre: march, brass"
LYRICS_ANSWER = "# Languages\nen\n\n# Lyrics\n[Chorus]\nLeft and right we carry on"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    write_tiny_omni(root / "my-captioner", seed=1)
    write_tiny_omni(root / "my-transcriber", seed=2)
    return root


def test_the_thinker_loads_with_the_checkpoints_own_weights(tiny_models):
    omni = load_omni(str(tiny_models / "my-captioner"), torch.device("cpu"), torch.float32)
    assert type(omni.model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    saved = load_file(str(tiny_models / "my-captioner" / "model.safetensors"))
    loaded = dict(omni.model.named_parameters())
    for key in ("model.layers.0.self_attn.q_proj.weight", "audio_tower.conv1.weight", "lm_head.weight"):
        assert torch.equal(loaded[key], saved[f"thinker.{key}"]), key
    assert not omni.demo and omni.processor.tokenizer.audio_token == "<|AUDIO|>"


def test_caption_and_lyrics_from_prompt_to_sidecar(tiny_models, clip_folder, tmp_path, monkeypatch):
    from transformers import AutoTokenizer, Qwen2_5OmniThinkerForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(tiny_models / "my-captioner")
    real_generate = Qwen2_5OmniThinkerForConditionalGeneration.generate
    prompts, decode_threads = [], set()

    def scripted(self, **inputs):
        """The real generate runs (a few tokens), then the answer is one a trained model would give."""
        real_generate(self, **{**inputs, "max_new_tokens": 3})
        prompt = tokenizer.decode(inputs["input_ids"][0])
        mask = inputs["feature_attention_mask"][0]
        expected_audio_tokens = int(((mask.sum() - 1) // 2 + 1 - 2) // 2 + 1)
        prompts.append((prompt, prompt.count("<|AUDIO|>"), expected_audio_tokens))
        answer = LYRICS_ANSWER if "Transcribe" in prompt else CAPTION_ANSWER
        answer_ids = tokenizer(answer + "<|im_end|>", return_tensors="pt").input_ids
        return torch.cat([inputs["input_ids"], answer_ids], dim=1)

    real_prepare = clips_module.prepare_clip

    def watched_prepare(*args, **kwargs):
        decode_threads.add(threading.current_thread().name)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(Qwen2_5OmniThinkerForConditionalGeneration, "generate", scripted)
    monkeypatch.setattr("daemon.caption.batch.prepare_clip", watched_prepare)
    manager = caption_manager(tmp_path, tiny_models)
    settings = CaptionSettings(source=str(clip_folder), captioner_model="my-captioner",
                               transcriber_model="my-transcriber", lyrics=True)
    result = run_caption(job_context(manager, tmp_path / "run", "caption", settings), settings)

    assert result["captioned"] == 2 and not result["failed"]
    assert len(prompts) == 4  # two files, a caption and a lyrics pass each
    for prompt, audio_tokens, expected in prompts:
        assert prompt.index("<|audio_bos|>") < prompt.index("*Task*")  # audio first, then the task
        assert audio_tokens == expected > 0
    assert all(name.startswith("preprocess-decode") for name in decode_threads)
    assert "captioner" not in manager.snapshot()["components"]  # freed for training afterwards
    assert "transcriber" not in manager.snapshot()["components"]

    sidecar = json.loads((clip_folder / "vocal" / "march.json").read_text(encoding="utf-8"))
    assert sidecar["caption"] == "A bold brass march with snare rolls and bright stacked chords."
    assert sidecar["keyscale"] == "Bb major" and sidecar["genre"] == "march, brass"
    assert sidecar["lyrics"] == "[Chorus]\nLeft and right we carry on" and sidecar["language"] == "en"
    assert sidecar["bpm"] == 112  # the captioner said none: the signal's tempo
    assert sidecar[BLOCK]["caption"]["raw"] == CAPTION_ANSWER  # only the new tokens were decoded
    assert sidecar[BLOCK]["done"] == {"caption": "local", "lyrics": "local"}
    scanned = scan_folder(clip_folder).dataset.find("vocal/march.wav")  # what the dataset scan reads
    assert scanned.caption == sidecar["caption"] and scanned.keyscale == "Bb major" and scanned.bpm == 112


def test_a_folder_that_is_not_a_captioner_is_refused_by_name(tmp_path, demo_root, clip_folder):
    from shared.errors import CheckpointError

    manager = caption_manager(tmp_path, demo_root / "checkpoints")
    settings = CaptionSettings(source=str(clip_folder), captioner_model=str(demo_root / "checkpoints" / "vae"))
    with pytest.raises(CheckpointError, match="not a Qwen2.5-Omni captioner"):
        run_caption(job_context(manager, tmp_path / "run", "caption", settings), settings)
    settings = settings.replace(captioner_model="no-such-captioner")
    with pytest.raises(CheckpointError, match="no model folder named 'no-such-captioner'"):
        run_caption(job_context(manager, tmp_path / "run2", "caption", settings), settings)
