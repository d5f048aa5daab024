"""The demo checkpoint generator: the real layout, deterministic, skipped when up to date."""
from __future__ import annotations

import json

import torch
from safetensors import safe_open
from transformers import AutoModel, AutoTokenizer

from daemon.models.acestep_demo.configuration_acestep_v15 import AceStepConfig
from daemon.models.acestep_demo.modeling_acestep_v15_turbo import AceStepConditionGenerationModel
from daemon.models.demo_checkpoint import DIT_NAME, _stamp_matches, ensure_demo_checkpoint, write_demo_checkpoint
from daemon.models.loader import load_vae

# The parameters of the official AceStepConfig.__init__ (ACE-Step 1.5, configuration_acestep_v15.py).
OFFICIAL_CONFIG_KEYS = {
    "vocab_size", "fsq_dim", "fsq_input_levels", "fsq_input_num_quantizers", "hidden_size", "intermediate_size",
    "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act",
    "max_position_embeddings", "initializer_range", "rms_norm_eps", "use_cache", "tie_word_embeddings", "rope_theta",
    "rope_scaling", "attention_bias", "use_sliding_window", "sliding_window", "layer_types", "attention_dropout",
    "num_lyric_encoder_hidden_layers", "audio_acoustic_hidden_dim", "pool_window_size", "text_hidden_dim",
    "in_channels", "data_proportion", "timestep_mu", "timestep_sigma", "timbre_hidden_dim",
    "num_timbre_encoder_hidden_layers", "timbre_fix_frame", "patch_size", "num_attention_pooler_hidden_layers",
    "num_audio_decoder_hidden_layers", "model_version",
}
# What a real checkpoint's config.json has besides (transformers' own keys and the turbo flag).
CHECKPOINT_KEYS = {"architectures", "auto_map", "model_type", "is_turbo", "dtype", "torch_dtype",
                   "transformers_version"}


def test_layout_matches_a_real_install(demo_checkpoints):
    dit = demo_checkpoints / DIT_NAME
    config = json.loads((dit / "config.json").read_text())
    assert config["model_type"] == "acestep"
    assert config["architectures"] == ["AceStepConditionGenerationModel"]
    for target in config["auto_map"].values():
        assert (dit / (target.split(".")[0] + ".py")).is_file()
    for key in ("is_turbo", "timestep_mu", "timestep_sigma", "model_version"):
        assert key in config
    assert (config["timestep_mu"], config["timestep_sigma"]) == (-0.4, 1.0)
    with safe_open(dit / "model.safetensors", "pt") as weights:
        prefixes = {key.split(".")[0] for key in weights.keys()}
    assert prefixes == {"decoder", "encoder", "tokenizer", "detokenizer", "null_condition_emb"}
    silence = torch.load(dit / "silence_latent.pt", weights_only=True)
    assert silence.dim() == 3 and silence.shape[:2] == (1, 64) and silence.shape[2] >= 750
    assert (demo_checkpoints / "vae" / "diffusion_pytorch_model.safetensors").is_file()


def test_config_and_weights_load_strictly_into_a_model_built_from_official_keys_only(demo_checkpoints):
    dit = demo_checkpoints / DIT_NAME
    config = json.loads((dit / "config.json").read_text())
    assert set(config) <= OFFICIAL_CONFIG_KEYS | CHECKPOINT_KEYS, set(config) - OFFICIAL_CONFIG_KEYS - CHECKPOINT_KEYS
    model = AceStepConditionGenerationModel(AceStepConfig(**{k: v for k, v in config.items()
                                                             if k in OFFICIAL_CONFIG_KEYS}))
    with safe_open(dit / "model.safetensors", "pt") as weights:
        state = {key: weights.get_tensor(key) for key in weights.keys()}
    model.load_state_dict(state, strict=True)
    for name in ("tokenizer.attention_pooler.embed_tokens.weight", "tokenizer.attention_pooler.special_token",
                 "tokenizer.attention_pooler.layers.0.self_attn.q_proj.weight",
                 "tokenizer.attention_pooler.norm.weight", "detokenizer.embed_tokens.weight",
                 "detokenizer.special_tokens", "detokenizer.layers.0.mlp.up_proj.weight", "detokenizer.norm.weight",
                 "detokenizer.proj_out.weight", "encoder.timbre_encoder.special_token",
                 "encoder.timbre_encoder.layers.0.input_layernorm.weight", "encoder.lyric_encoder.norm.weight"):
        assert name in state, name
    assert not [key for key in state if ".encoder.layers." in key and not key.startswith("encoder.")]


def test_text_encoder_and_tokenizer_load_with_the_auto_classes(demo_checkpoints):
    folder = str(demo_checkpoints / "Qwen3-Embedding-0.6B")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoder = AutoModel.from_pretrained(folder).eval()
    dit_config = json.loads((demo_checkpoints / DIT_NAME / "config.json").read_text())
    assert encoder.config.hidden_size == dit_config["text_hidden_dim"]
    prompt = "# Caption\ncalm piano, soft strings\n\n# Metas\n- bpm: 90\n<|endoftext|>\n"
    ids = tokenizer(prompt, return_tensors="pt")
    assert tokenizer.convert_tokens_to_ids("<|endoftext|>") in ids.input_ids[0].tolist()
    assert tokenizer.decode(ids.input_ids[0]) == prompt
    with torch.no_grad():
        hidden = encoder(**ids).last_hidden_state
        table = encoder.embed_tokens(ids.input_ids)
    assert hidden.shape == table.shape == (1, ids.input_ids.shape[1], dit_config["text_hidden_dim"])


def test_vae_has_the_real_geometry(demo_checkpoints):
    vae = load_vae(demo_checkpoints / "vae", torch.device("cpu"), torch.float32)
    audio = torch.randn(1, 2, 96000) * 0.1  # 2 s of 48 kHz stereo
    with torch.inference_mode():
        latents = vae.encode(audio).latent_dist.sample()
        decoded = vae.decode(latents).sample
    assert latents.shape == (1, 64, 50)
    assert decoded.shape == (1, 2, 96000)


def test_generation_is_deterministic_and_skipped_when_up_to_date(tmp_path, demo_checkpoints):
    again = ensure_demo_checkpoint(demo_checkpoints)
    assert again["written"] is False
    info = write_demo_checkpoint(tmp_path / "other", seed=0)
    assert info["written"] is True
    for name in ("acestep-v15-demo/model.safetensors", "acestep-v15-demo/config.json",
                 "vae/diffusion_pytorch_model.safetensors", "Qwen3-Embedding-0.6B/model.safetensors",
                 "Qwen3-Embedding-0.6B/tokenizer.json"):
        assert (tmp_path / "other" / name).read_bytes() == (demo_checkpoints / name).read_bytes(), name
    assert _stamp_matches(tmp_path / "other", 0) and not _stamp_matches(tmp_path / "other", 1)  # seed 1 rewrites

