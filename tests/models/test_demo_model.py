"""The demo DiT honours ACESTEP_INTERFACE.md sections 2 and 3, loaded only the way ACE-Step loads.

No test here imports the demo model class: everything goes through
`AutoModel.from_pretrained(folder, trust_remote_code=True)`.
"""
from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import LoraLayer
from transformers import AutoModel

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


@pytest.fixture(scope="module")
def model(demo_checkpoints):
    loaded = AutoModel.from_pretrained(str(demo_checkpoints / "acestep-v15-demo"), trust_remote_code=True,
                                       attn_implementation="sdpa", dtype=torch.float32)
    return loaded.eval()


def condition(model, batch=2, text_len=7, lyric_len=9):
    """Encoder inputs for two rows, both padded; three references: one for row 0, two for row 1."""
    width = model.config.text_hidden_dim
    text_mask = torch.ones(batch, text_len)
    text_mask[1, 5:] = 0
    lyric_mask = torch.ones(batch, lyric_len)
    lyric_mask[0, 3:] = 0
    return {
        "text_hidden_states": torch.randn(batch, text_len, width),
        "text_attention_mask": text_mask,
        "lyric_hidden_states": torch.randn(batch, lyric_len, width),
        "lyric_attention_mask": lyric_mask,
        "refer_audio_acoustic_hidden_states_packed": torch.randn(3, 4, 64),
        "refer_audio_order_mask": torch.tensor([0, 1, 1]),
    }


def decoder_inputs(batch, frames, states, mask, t=0.7):
    return {
        "hidden_states": torch.randn(batch, frames, 64),
        "timestep": torch.full((batch,), t),
        "timestep_r": torch.full((batch,), t),
        "attention_mask": torch.ones(batch, frames),
        "encoder_hidden_states": states,
        "encoder_attention_mask": mask,
        "context_latents": torch.randn(batch, frames, 128),
    }


def test_loads_as_remote_code_with_the_real_module_tree(model):
    assert type(model).__name__ == "AceStepConditionGenerationModel"
    assert type(model).__module__.startswith("transformers_modules.")
    assert model.config.model_type == "acestep" and model.config.in_channels == 192
    hidden = model.config.hidden_size
    assert set(dict(model.named_children())) >= {"decoder", "encoder", "tokenizer", "detokenizer"}
    assert tuple(model.null_condition_emb.shape) == (1, 1, hidden)
    decoder = model.decoder
    conv_in, conv_out = decoder.proj_in[1], decoder.proj_out[1]
    assert isinstance(conv_in, torch.nn.Conv1d) and conv_in.in_channels == 192 and conv_in.out_channels == hidden
    assert conv_in.kernel_size == conv_in.stride == (model.config.patch_size,)
    assert isinstance(conv_out, torch.nn.ConvTranspose1d) and conv_out.out_channels == 64
    assert tuple(decoder.scale_shift_table.shape) == (1, 2, hidden)
    for name in ("rotary_emb", "time_embed.linear_1", "time_embed.linear_2", "time_embed.time_proj",
                 "time_embed_r.time_proj", "norm_out"):
        decoder.get_submodule(name)
    assert decoder.condition_embedder.bias is not None
    layer = decoder.layers[0]
    for name in ("self_attn_norm", "cross_attn_norm", "mlp_norm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
                 "self_attn.q_norm", "self_attn.k_norm", "cross_attn.q_norm"):
        layer.get_submodule(name)
    assert tuple(layer.scale_shift_table.shape) == (1, 6, hidden)
    for attn in (layer.self_attn, layer.cross_attn):
        assert all(getattr(attn, p).bias is None for p in ATTENTION)
        assert attn.k_proj.out_features < attn.q_proj.out_features  # grouped-query
    for name in ("text_projector", "lyric_encoder.embed_tokens", "lyric_encoder.norm",
                 "timbre_encoder.embed_tokens", "timbre_encoder.norm"):
        model.encoder.get_submodule(name)
    prefixes = {key.split(".")[0] for key in model.state_dict()}
    assert prefixes == {"decoder", "encoder", "tokenizer", "detokenizer", "null_condition_emb"}


def test_default_lora_wraps_eight_linear_layers_per_decoder_layer(model):
    wrapped = get_peft_model(model.decoder, LoraConfig(r=4, lora_alpha=8, target_modules=list(ATTENTION)))
    try:
        names = [name for name, module in wrapped.named_modules() if isinstance(module, LoraLayer)]
        assert len(names) == 8 * model.config.num_hidden_layers
        assert all(".self_attn." in n or ".cross_attn." in n for n in names)
        keys = [k for k in wrapped.state_dict() if "lora_A" in k]
        assert any(k.startswith("base_model.model.layers.0.self_attn.q_proj.lora_A") for k in keys)
    finally:
        wrapped.unload()


def test_encoder_packs_valid_tokens_first(model):
    inputs = condition(model)
    with torch.no_grad():
        states, mask = model.encoder(**inputs)
    refs = 2  # row 1 has two references, so every row gets two slots
    assert states.shape == (2, 9 + refs + 7, model.config.hidden_size)
    assert mask.dtype == torch.bool and mask.shape == (2, 18)
    assert mask.sum(1).tolist() == [3 + 1 + 7, 9 + 2 + 5]
    for row in mask:  # packed: all True then all False
        count = int(row.sum())
        assert row[:count].all() and not row[count:].any()


@pytest.mark.parametrize("frames", [250, 251, 37])
def test_decoder_predicts_a_velocity_of_the_input_length(model, frames):
    with torch.no_grad():
        states, mask = model.encoder(**condition(model))
        out = model.decoder(**decoder_inputs(2, frames, states, mask))
    assert isinstance(out, tuple) and out[0].shape == (2, frames, 64)
    assert torch.isfinite(out[0]).all() and out[0].std() > 0


def test_decoder_output_depends_on_every_input(model):
    torch.manual_seed(0)
    with torch.no_grad():
        states, mask = model.encoder(**condition(model))
        base = decoder_inputs(1, 40, states[:1], mask[:1])
        ref = model.decoder(**base)[0]
        changes = {
            "timestep": torch.tensor([0.2]), "timestep_r": torch.tensor([0.1]),
            "context_latents": torch.randn(1, 40, 128), "encoder_hidden_states": torch.randn_like(states[:1]),
            "hidden_states": torch.randn(1, 40, 64),
        }
        for key, value in changes.items():
            other = model.decoder(**{**base, key: value})[0]
            assert not torch.allclose(ref, other), key


# model.decoder(**padded_batch(model))[0][:, ::5, :3] of the seed-0 demo checkpoint (generator version 2).
# A change here changes what every test on the demo model trains on: regenerate it only on purpose.
GOLDEN_PADDED = [
    [[0.00406, -0.20165, -0.07614], [0.01842, 0.00575, -0.50453], [0.16839, -0.14924, 0.25209],
     [-0.01949, -0.03734, 0.5537], [-0.19031, 0.17861, -0.18569]],
    [[-0.01761, 0.18569, -0.365], [0.13754, 0.02002, 0.228], [-0.44288, -0.1778, -0.24239],
     [-0.01954, 0.09479, -0.38724], [-0.13754, -0.09373, 0.3057]],
]


def padded_batch(model) -> dict:
    """Two rows, the second padded after 13 of 21 frames (odd: the patch padding runs too), with
    padded text and lyrics; everything drawn from one seeded generator."""
    gen = torch.Generator().manual_seed(1234)
    width, frames = model.config.text_hidden_dim, 21
    mask = torch.ones(2, frames)
    mask[1, 13:] = 0
    text_mask, lyric_mask = torch.ones(2, 6), torch.ones(2, 5)
    text_mask[1, 4:] = 0
    lyric_mask[0, 2:] = 0
    with torch.no_grad():
        states, cond_mask = model.encoder(
            text_hidden_states=torch.randn(2, 6, width, generator=gen), text_attention_mask=text_mask,
            lyric_hidden_states=torch.randn(2, 5, width, generator=gen), lyric_attention_mask=lyric_mask,
            refer_audio_acoustic_hidden_states_packed=torch.randn(2, 3, 64, generator=gen),
            refer_audio_order_mask=torch.tensor([0, 1]))
    x_t = torch.randn(2, frames, 64, generator=gen) * mask[..., None]
    t = torch.tensor([0.3, 0.8])
    return dict(hidden_states=x_t, timestep=t, timestep_r=t, attention_mask=mask, encoder_hidden_states=states,
                encoder_attention_mask=cond_mask, context_latents=torch.randn(2, frames, 128, generator=gen))


def test_decoder_output_on_a_padded_batch_is_fixed(model):
    with torch.no_grad():
        velocity = model.decoder(**padded_batch(model))[0]
    torch.testing.assert_close(velocity[:, ::5, :3], torch.tensor(GOLDEN_PADDED), atol=1e-4, rtol=0)


def test_decoder_discards_both_masks_as_the_official_one_does(model):
    inputs = padded_batch(model)
    unmasked = {**inputs, "attention_mask": torch.ones_like(inputs["attention_mask"]),
                "encoder_attention_mask": torch.ones_like(inputs["encoder_attention_mask"])}
    with torch.no_grad():
        padded = model.decoder(**inputs)[0]
        assert torch.equal(padded, model.decoder(**unmasked)[0])
        # So the padding reaches the real frames: row 1 alone, without its padding, differs.
        valid_tokens = int(inputs["encoder_attention_mask"][1].sum())
        alone = model.decoder(**{
            key: (value[1:, :13] if key in ("hidden_states", "attention_mask", "context_latents")
                  else value[1:, :valid_tokens] if key.startswith("encoder") else value[1:])
            for key, value in inputs.items()})[0]
    assert not torch.allclose(alone[0], padded[1, :13], atol=1e-3)


def test_eager_and_sdpa_agree(model):
    with torch.no_grad():
        states, mask = model.encoder(**condition(model))
        inputs = decoder_inputs(2, 300, states, mask)  # 150 tokens: the sliding window is active
        sdpa = model.decoder(**inputs)[0]
        model.config._attn_implementation = "eager"
        try:
            eager = model.decoder(**inputs)[0]
        finally:
            model.config._attn_implementation = "sdpa"
    torch.testing.assert_close(sdpa, eager, atol=1e-4, rtol=1e-4)


def test_audio_tokenizer_gives_fsq_codes_and_detokenizes(model):
    with torch.no_grad():
        quantized, indices = model.tokenizer(torch.randn(1, 6, 5, 64))
        hints = model.detokenizer(quantized)
    assert quantized.shape == (1, 6, model.config.hidden_size) and indices.shape == (1, 6, 1)
    assert 0 <= int(indices.min()) and int(indices.max()) < 8 * 8 * 8 * 5 * 5 * 5
    assert hints.shape == (1, 30, 64)


def test_runs_in_bfloat16(demo_checkpoints):
    model = AutoModel.from_pretrained(str(demo_checkpoints / "acestep-v15-demo"), trust_remote_code=True,
                                      dtype=torch.bfloat16).eval()
    assert model.decoder.proj_in[1].weight.dtype == torch.bfloat16
    with torch.no_grad():
        states, mask = model.encoder(**condition(model))
        velocity = model.decoder(**decoder_inputs(2, 51, states, mask))[0]
        quantized, _ = model.tokenizer(torch.randn(1, 4, 5, 64, dtype=torch.bfloat16))
    assert velocity.dtype == torch.bfloat16 and velocity.shape == (2, 51, 64) and torch.isfinite(velocity).all()
    assert quantized.dtype == torch.bfloat16 and model.detokenizer(quantized).shape == (1, 20, 64)


def test_lora_training_step_with_gradient_checkpointing_trains_the_adapter(model):
    # Its speed against a plain step is measured in bench/demo_model_step.py.
    with torch.no_grad():
        states, mask = model.encoder(**condition(model))
    states, mask = states[:1], mask[:1]
    wrapped = get_peft_model(model.decoder, LoraConfig(r=8, lora_alpha=8, target_modules=list(ATTENTION)))
    try:
        wrapped.base_model.model.gradient_checkpointing_enable()
        wrapped.train()
        assert wrapped.base_model.model.is_gradient_checkpointing
        optimizer = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-3)
        before = {n: p.detach().clone() for n, p in wrapped.named_parameters() if "lora_A" in n}
        for _ in range(2):
            inputs = decoder_inputs(1, 250, states, mask, t=0.5)  # a 10 s clip
            loss = torch.nn.functional.mse_loss(wrapped(**inputs)[0], torch.randn(1, 250, 64))
            loss.backward()
            grads = [p.grad for n, p in wrapped.named_parameters() if "lora_B" in n]
            assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
            optimizer.step()
            optimizer.zero_grad()
        after = {n: p.detach() for n, p in wrapped.named_parameters() if "lora_A" in n}
        assert any(not torch.equal(before[n], after[n]) for n in before)  # B moved, so A gets gradients too
    finally:
        wrapped.base_model.model.gradient_checkpointing_disable()
        wrapped.unload()
        model.eval()
