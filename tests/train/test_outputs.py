"""What a run leaves behind loads where users load it: LoRA with PEFT as ACE-Step does, LoKr with
LyCORIS, both carrying the trigger word, fingerprint and settings; and training actually learns."""
from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors import safe_open

from daemon.train import batching
from daemon.train.adapters import load_adapter
from daemon.train.adapters.metadata import read_training_info
from daemon.train.loop import train
from daemon.train.objective import validation_loss
from daemon.train.timesteps import TimestepSampler

from .conftest import RecordingReporter, small_settings

INFO = {"trigger_word": "zxq", "tag_position": "append", "model_fingerprint": "f" * 64,
        "model_name": "acestep-v15-demo"}


def _probe(samples):
    """Fixed decoder inputs built from two samples."""
    batch = batching.collate(samples[:2])
    gen = torch.Generator().manual_seed(11)
    t = torch.tensor([0.3, 0.8])
    x_t = torch.randn(batch.target_latents.shape, generator=gen)
    return dict(hidden_states=x_t, timestep=t, timestep_r=t, attention_mask=batch.attention_mask,
                encoder_hidden_states=batch.encoder_hidden_states,
                encoder_attention_mask=batch.encoder_attention_mask, context_latents=batch.context_latents)


def _train_a_little(fresh_model, samples, tmp_path, adapter_type):
    model = fresh_model()
    settings = small_settings(adapter_type=adapter_type, learning_rate=2e-2, epochs=3, best_warmup_epochs=100)
    result = train(settings, model, samples, tmp_path, RecordingReporter(), info=INFO, keep_adapter=True)
    model.decoder.eval()
    return model, result


def _header(path) -> dict:
    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata()


def _outputs(fresh_model, samples, tmp_path, adapter_type):
    """(probe inputs, the trained decoder's output, a fresh model, the fresh model's output)."""
    trained, _ = _train_a_little(fresh_model, samples, tmp_path, adapter_type)
    probe = _probe(samples)
    with torch.no_grad():
        expected = trained.decoder(**probe)[0]
        base = fresh_model()
        base_out = base.decoder(**probe)[0]
    assert not torch.allclose(expected, base_out, atol=1e-4)  # the adapter changed something
    return probe, expected, base, base_out


def test_lora_output_loads_with_peft_and_reproduces_the_trained_outputs(fresh_model, samples, tmp_path):
    from peft import LoraConfig, PeftModel

    probe, expected, base, base_out = _outputs(fresh_model, samples, tmp_path, "lora")
    final = tmp_path / "final"
    with torch.no_grad():
        loaded = PeftModel.from_pretrained(base.decoder, str(final), adapter_name="default", is_trainable=False)
        got = loaded(**probe)[0]
    assert torch.allclose(got, expected, atol=1e-5)

    config = json.loads((final / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["task_type"] == "FEATURE_EXTRACTION"
    assert config["r"] == 4 and config["lora_alpha"] == 8
    assert config["trigger_word"] == "zxq" and config["tag_position"] == "append"
    # PEFT's fields and the two ace-lora-trainer readers look for; the rest lives beside it.
    assert set(config) - set(LoraConfig.__dataclass_fields__) == {"trigger_word", "tag_position"}
    info = read_training_info(final)
    assert info == json.loads((final / "training_info.json").read_text())
    assert info["model_fingerprint"] == "f" * 64 and info["training_settings"]["rank"] == 4
    assert info["created_by"] == "acestep-lora-studio" and info["epoch"] == 3 and info["trigger_word"] == "zxq"
    header = _header(final / "adapter_model.safetensors")
    assert header["trigger_word"] == "zxq" and json.loads(header["training_settings"])["adapter_type"] == "lora"
    assert header["model_fingerprint"] == "f" * 64 and header["created_by"] == "acestep-lora-studio"
    keys = safe_open(str(final / "adapter_model.safetensors"), framework="pt").keys()
    assert "base_model.model.layers.0.self_attn.q_proj.lora_A.weight" in keys

    # Strength scales as ACE-Step scales it: 0 is the base model, 2 goes further than 1.
    with torch.no_grad():
        adapter = load_adapter(fresh_model().decoder, final, strength=0.0)
        assert torch.allclose(adapter.decoder(**probe)[0], base_out, atol=1e-6)
        adapter.set_strength(2.0)
        doubled = adapter.decoder(**probe)[0]
    assert (doubled - base_out).norm() > 1.1 * (expected - base_out).norm()


def test_lokr_output_loads_with_lycoris_and_reproduces_the_trained_outputs(fresh_model, samples, tmp_path):
    from lycoris import create_lycoris_from_weights
    from safetensors.torch import load_file

    probe, expected, base, _ = _outputs(fresh_model, samples, tmp_path, "lokr")
    final = tmp_path / "final"
    with torch.no_grad():
        network, _ = create_lycoris_from_weights(1.0, str(final / "lokr_weights.safetensors"), base.decoder)
        network.apply_to()
        network.load_state_dict(load_file(str(final / "lokr_weights.safetensors")))
        got = base.decoder(**probe)[0]
    assert torch.allclose(got, expected, atol=1e-5)
    config = json.loads((final / "lokr_config.json").read_text())
    assert config["algo"] == "lokr" and config["linear_dim"] == 4 and config["factor"] == -1
    assert config["trigger_word"] == "zxq" and "model_fingerprint" not in config
    assert read_training_info(final)["model_fingerprint"] == "f" * 64
    header = _header(final / "lokr_weights.safetensors")
    assert header["tag_position"] == "append" and json.loads(header["lokr_config"])["linear_dim"] == 4


def test_peft_loads_a_studio_lora_without_warnings_about_studio_fields(fresh_model, samples, tmp_path):
    from peft import PeftModel

    _train_a_little(fresh_model, samples, tmp_path, "lora")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PeftModel.from_pretrained(fresh_model().decoder, str(tmp_path / "final"), is_trainable=False)
    unexpected = [str(w.message) for w in caught if "Unexpected keyword arguments" in str(w.message)]
    # PEFT 0.21 names every key it does not know; only the two readers need are left (ADAPTER_FORMATS.md).
    assert all(m.startswith("Unexpected keyword arguments ['tag_position', 'trigger_word']") for m in unexpected)
    with warnings.catch_warnings(record=True) as caught:  # the studio's own loader: not a word
        warnings.simplefilter("always")
        load_adapter(fresh_model().decoder, tmp_path / "final")
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("adapter_type", ["dora", "loha"])
def test_dora_and_loha_train_and_reload(fresh_model, samples, tmp_path, adapter_type):
    probe, expected, _, _ = _outputs(fresh_model, samples, tmp_path, adapter_type)
    with torch.no_grad():
        adapter = load_adapter(fresh_model().decoder, tmp_path / "final")
        got = adapter.decoder(**probe)[0]
    assert torch.allclose(got, expected, atol=1e-5)


def test_loss_after_100_steps_is_below_the_loss_at_step_0(fresh_model, samples, tmp_path):
    settings = small_settings(max_steps=100, epochs=100, learning_rate=3e-3, batch_size=2, rank=8, alpha=16)
    sampler = TimestepSampler("model")
    null = fresh_model().null_condition_emb.detach()
    indices = list(range(len(samples)))

    def fixed_loss(decoder):
        return validation_loss(decoder, samples, indices, settings, sampler, null, torch.device("cpu"),
                               torch.float32)

    before = fixed_loss(fresh_model().decoder)
    model = fresh_model()
    result = train(settings, model, samples, tmp_path, RecordingReporter(), keep_adapter=True)
    assert result["global_step"] == 100 and result["outcome"] == "max_steps"
    after = fixed_loss(model.decoder)
    assert after < 0.9 * before, (before, after)


def test_epoch_numbers_count_finished_epochs_everywhere(fresh_model, samples, tmp_path):
    """Progress, metrics, checkpoints and their adapters agree on the epoch at every step."""
    reporter = RecordingReporter()
    settings = small_settings(epochs=2, save_every_steps=1, save_every_epochs=1)  # 4 steps per epoch
    train(settings, fresh_model(), samples, tmp_path, reporter)
    checkpoints = tmp_path / "checkpoints"
    saved = {int(p.name.split("_")[1]): json.loads((p / "training_state.json").read_text())["epoch"]
             for p in checkpoints.glob("step_*")}
    assert saved == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 1, 7: 1, 8: 1}  # step_4 is saved before epoch 1 closes
    points = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {p["step"]: p["epoch"] for p in points if "loss" in p} == saved
    assert [(p["step"], p["epoch"]) for p in points if "epoch_loss" in p] == [(4, 1), (8, 2)]
    for n in (1, 2):
        assert json.loads((checkpoints / f"epoch_{n}" / "training_state.json").read_text())["epoch"] == n
        assert json.loads((checkpoints / f"epoch_{n}" / "training_info.json").read_text())["epoch"] == n
    closed = {4: 1, 8: 2}  # the end of an epoch reports its new count at the same step
    for done, message in reporter.messages:
        assert message in {f"step {done}, {n} of 2 epochs done" for n in (saved[done], closed.get(done))}
    assert reporter.messages[-1] == (8, "step 8, 2 of 2 epochs done")


def test_final_is_never_missing_while_a_new_one_replaces_it(tmp_path, monkeypatch):
    """A crash at any step of replacing final/ (here by best/) leaves a whole final/, old or new."""
    from daemon.train.loop import write_final
    from daemon.train.policies import BestTracker
    from tests.crashes import every_crash

    best = BestTracker(warmup_epochs=0, min_delta=0.0)
    best.update(1, 0.5)

    def setup():
        for name, text in (("final", "old"), ("best", "new")):
            (tmp_path / name).mkdir(exist_ok=True)
            for file in ("adapter_config.json", "adapter_model.safetensors"):
                (tmp_path / name / file).write_text(text)

    def check():
        final = tmp_path / "final"
        texts = {(final / f).read_text() for f in ("adapter_config.json", "adapter_model.safetensors")}
        assert texts in ({"old"}, {"new"})

    every_crash(monkeypatch, setup, lambda: write_final(None, tmp_path, best, {}), check)
    assert (tmp_path / "final" / "adapter_config.json").read_text() == "new"
