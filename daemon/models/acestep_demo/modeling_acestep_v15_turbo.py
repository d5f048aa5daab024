"""The studio's demo ACE-Step 1.5 model: the real model's code, small (docs/DEMO_MODEL.md).

Weight names, config keys, call signatures, shapes and behaviour follow the official turbo modeling
file (ACESTEP_INTERFACE.md sections 2 and 3), so LoRA targets, preprocessing and training code
written against this model meet on real checkpoints what they meet here. `AceStepConditionGenerationModel`
has children `decoder` (the DiT: patching, timestep embedding, RoPE self-attention with a sliding
window on the `sliding_attention` layers, cross-attention, adaLN modulation; it ignores both masks,
as the official one does), `encoder` (text projector, lyric and timbre encoders), `tokenizer` /
`detokenizer` (25 Hz latents to 5 Hz FSQ codes and back) and the parameter `null_condition_emb`.

This file is copied next to the demo weights and imported by transformers as remote code
(`AutoModel.from_pretrained(folder, trust_remote_code=True)`): it imports only torch,
transformers, vector_quantize_pytorch and its sibling configuration file.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from vector_quantize_pytorch import ResidualFSQ

from .configuration_acestep_v15 import AceStepConfig

TIMESTEP_FEATURES = 256


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class Transpose(nn.Module):
    """Swaps time and channels, so a Conv1d can sit inside a Sequential over [B, T, C]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class RotaryEmbedding(nn.Module):
    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, length: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(length, device=device, dtype=torch.float32)
        freqs = torch.outer(positions, self.inv_freq.to(device))
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def _apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + _rotate_half(x) * sin


def attention_mask(length: int, dtype: torch.dtype, device: torch.device, valid: torch.Tensor | None = None,
                   window: int | None = None) -> torch.Tensor | None:
    """An additive mask [B or 1, 1, T, T] (0 where a query may attend, the dtype's minimum elsewhere)
    for bidirectional attention over valid keys, within |i - j| <= window when one is given; None
    when everything may attend to everything. Additive, as the official code: a row without any
    allowed key attends evenly instead of giving NaN."""
    if valid is None and window is None:
        return None
    allowed = torch.ones(1, 1, length, length, dtype=torch.bool, device=device)
    if window is not None:
        index = torch.arange(length, device=device)
        allowed = allowed & ((index[:, None] - index[None, :]).abs() <= window)
    if valid is not None:
        allowed = allowed & valid.bool().view(valid.shape[0], 1, 1, length)
    mask = torch.full(allowed.shape, torch.finfo(dtype).min, dtype=dtype, device=device)
    return mask.masked_fill(allowed, 0.0)


def layer_masks(config: AceStepConfig, length: int, dtype: torch.dtype, device: torch.device,
                valid: torch.Tensor | None = None) -> dict[str, torch.Tensor | None]:
    """The self-attention mask of each layer type (config.layer_types names one per layer)."""
    return {"full_attention": attention_mask(length, dtype, device, valid),
            "sliding_attention": attention_mask(length, dtype, device, valid, config.sliding_window)}


class AceStepAttention(nn.Module):
    """Grouped-query attention with q/k RMSNorm; self-attention uses RoPE, cross-attention none."""

    def __init__(self, config: AceStepConfig, is_cross_attention: bool = False) -> None:
        super().__init__()
        self.config = config
        self.is_cross_attention = is_cross_attention
        self.is_causal = False
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.scaling = self.head_dim**-0.5
        hidden = config.hidden_size
        self.q_proj = nn.Linear(hidden, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, hidden, bias=False)
        self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps)
        self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`attention_mask`: additive [B or 1, 1, Tq, Tk] (see attention_mask()), or None."""
        batch, length, _ = hidden_states.shape
        source = encoder_hidden_states if encoder_hidden_states is not None else hidden_states
        q = self.q_norm(self.q_proj(hidden_states).view(batch, length, self.num_heads, self.head_dim))
        k = self.k_norm(self.k_proj(source).view(batch, source.shape[1], self.num_kv_heads, self.head_dim))
        v = self.v_proj(source).view(batch, source.shape[1], self.num_kv_heads, self.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if position_embeddings is not None:
            cos, sin = position_embeddings
            q, k = _apply_rotary(q, cos, sin), _apply_rotary(k, cos, sin)
        groups = self.num_heads // self.num_kv_heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        dropout = self.config.attention_dropout if self.training else 0.0
        if self.config._attn_implementation == "eager":
            out = _eager_attention(q, k, v, attention_mask, self.scaling, dropout)
        else:
            # sdpa, and flash_attention_2 too: torch's SDPA picks flash kernels on CUDA by itself.
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=dropout,
                                                 scale=self.scaling)
        out = out.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim)
        return self.o_proj(out)


def _eager_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                     scaling: float, dropout: float) -> torch.Tensor:
    scores = torch.matmul(q, k.transpose(-1, -2)) * scaling
    if mask is not None:
        scores = scores + mask
    probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    probs = F.dropout(probs, p=dropout, training=dropout > 0)
    return torch.matmul(probs, v)


class AceStepMLP(nn.Module):
    def __init__(self, config: AceStepConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class AceStepEncoderLayer(GradientCheckpointingLayer):
    """A pre-norm bidirectional transformer layer (lyric, timbre, pooler and detokenizer stacks)."""

    def __init__(self, config: AceStepConfig, layer_idx: int) -> None:
        super().__init__()
        self.attention_type = config.layer_types[layer_idx]
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = AceStepAttention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = AceStepMLP(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), mask, rope)
        return x + self.mlp(self.post_attention_layernorm(x))


class AceStepEncoderStack(nn.Module):
    """`embed_tokens` (a projection into the model width), `layers.N` and a final `norm`, at the top
    of the module as in every official encoder; subclasses add their special tokens and decide
    where the embedding goes."""

    def __init__(self, config: AceStepConfig, in_dim: int, num_layers: int) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Linear(in_dim, config.hidden_size)
        self.rotary_emb = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.layers = nn.ModuleList(AceStepEncoderLayer(config, i) for i in range(num_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def encode(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """The layers and the norm over already embedded [N, T, hidden]; `valid` [N, T] masks keys."""
        masks = layer_masks(self.config, x.shape[1], x.dtype, x.device, valid)
        rope = self.rotary_emb(x.shape[1], x.device, x.dtype)
        for layer in self.layers:
            x = layer(x, masks[layer.attention_type], rope)
        return self.norm(x)


class AceStepLyricEncoder(AceStepEncoderStack):
    def __init__(self, config: AceStepConfig) -> None:
        super().__init__(config, config.text_hidden_dim, config.num_lyric_encoder_hidden_layers)

    def forward(self, lyric_hidden_states: torch.Tensor, lyric_attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encode(self.embed_tokens(lyric_hidden_states), lyric_attention_mask)


class AceStepTimbreEncoder(AceStepEncoderStack):
    """One vector per reference clip: the encoding of its first frame. The official encoder has a
    `special_token` it no longer prepends (that line is commented out there); it is kept so the
    weights match."""

    def __init__(self, config: AceStepConfig) -> None:
        super().__init__(config, config.timbre_hidden_dim, config.num_timbre_encoder_hidden_layers)
        self.special_token = nn.Parameter(torch.randn(1, 1, config.hidden_size))

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        return self.encode(self.embed_tokens(packed))[:, 0]


class AceStepDiTLayer(GradientCheckpointingLayer):
    """Self-attention and MLP modulated by the timestep (adaLN), cross-attention to the condition."""

    def __init__(self, config: AceStepConfig, layer_idx: int) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.attention_type = config.layer_types[layer_idx]
        self.self_attn_norm = RMSNorm(hidden, config.rms_norm_eps)
        self.self_attn = AceStepAttention(config)
        self.cross_attn_norm = RMSNorm(hidden, config.rms_norm_eps)
        self.cross_attn = AceStepAttention(config, is_cross_attention=True)
        self.mlp_norm = RMSNorm(hidden, config.rms_norm_eps)
        self.mlp = AceStepMLP(config)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, hidden) / hidden**0.5)

    def forward(self, x: torch.Tensor, timestep_proj: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                self_mask: torch.Tensor | None, encoder_hidden_states: torch.Tensor,
                cross_mask: torch.Tensor | None) -> torch.Tensor:
        modulation = (self.scale_shift_table + timestep_proj).chunk(6, dim=1)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = modulation
        h = self.self_attn_norm(x) * (1 + scale_msa) + shift_msa
        x = x + gate_msa * self.self_attn(h, self_mask, rope)
        x = x + self.cross_attn(self.cross_attn_norm(x), cross_mask, None, encoder_hidden_states)
        h = self.mlp_norm(x) * (1 + scale_mlp) + shift_mlp
        return x + gate_mlp * self.mlp(h)


class TimestepEmbedding(nn.Module):
    """Sinusoidal features of t*1000 -> `linear_1` -> SiLU -> `linear_2`; `time_proj` gives adaLN."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(TIMESTEP_FEATURES, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)
        self.time_proj = nn.Linear(hidden, 6 * hidden)

    def forward(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = TIMESTEP_FEATURES // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = (t.float() * 1000.0)[:, None] * freqs[None]
        features = torch.cat([args.cos(), args.sin()], dim=-1).to(self.linear_1.weight.dtype)
        temb = self.linear_2(F.silu(self.linear_1(features)))
        return temb, self.time_proj(F.silu(temb)).unflatten(1, (6, -1))


class AceStepPreTrainedModel(PreTrainedModel):
    config_class = AceStepConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flash_attn_2 = True
    _no_split_modules = ["AceStepDiTLayer", "AceStepEncoderLayer"]

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)):
            module.weight.data.normal_(0.0, std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, RMSNorm):
            module.weight.data.fill_(1.0)
        elif isinstance(module, (AceStepDiTLayer, AceStepDiTModel)):
            module.scale_shift_table.data.normal_(0.0, module.scale_shift_table.shape[-1] ** -0.5)
        elif isinstance(module, AceStepAttentionPooler):
            module.special_token.data.normal_(0.0, std)
        elif isinstance(module, AceStepTimbreEncoder):
            module.special_token.data.normal_(0.0, 1.0)
        elif isinstance(module, AceStepAudioDetokenizer):
            module.special_tokens.data.normal_(0.0, std)
        elif isinstance(module, AceStepConditionGenerationModel):
            module.null_condition_emb.data.normal_(0.0, std)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """As transformers', but non-reentrant by default so frozen inputs still pass LoRA gradients."""
        super().gradient_checkpointing_enable(gradient_checkpointing_kwargs or {"use_reentrant": False})


class AceStepDiTModel(AceStepPreTrainedModel):
    """The diffusion transformer: predicts the flow-matching velocity of x_t."""

    def __init__(self, config: AceStepConfig) -> None:
        super().__init__(config)
        hidden, patch = config.hidden_size, config.patch_size
        self.rotary_emb = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.proj_in = nn.Sequential(Transpose(), nn.Conv1d(config.in_channels, hidden, patch, stride=patch),
                                     Transpose())
        self.time_embed = TimestepEmbedding(hidden)
        self.time_embed_r = TimestepEmbedding(hidden)
        self.condition_embedder = nn.Linear(hidden, hidden, bias=True)
        self.layers = nn.ModuleList(AceStepDiTLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm_out = RMSNorm(hidden, config.rms_norm_eps)
        self.proj_out = nn.Sequential(
            Transpose(), nn.ConvTranspose1d(hidden, config.audio_acoustic_hidden_dim, patch, stride=patch),
            Transpose())
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, hidden) / hidden**0.5)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        # PEFT's gradient-checkpointing preparation hooks this to make the layer inputs need grad.
        return self.proj_in

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        timestep_r: torch.Tensor,
        attention_mask: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor,
        context_latents: torch.Tensor,
        **kwargs,
    ) -> tuple[torch.Tensor]:
        """x_t [B,T,64], t and r [B], masks, condition [B,L,hidden], context [B,T,128] -> (velocity,).

        Both masks are discarded, as the official decoder discards them before its layers: every
        frame and every condition token attends to all the others, padding included."""
        del attention_mask, encoder_attention_mask
        frames = hidden_states.shape[1]
        dtype = self.proj_in[1].weight.dtype
        x = torch.cat([context_latents, hidden_states], dim=-1).to(dtype)
        pad = (-frames) % self.config.patch_size
        if pad:
            x = F.pad(x, (0, 0, 0, pad))  # an odd length is padded with zeros and cropped back
        x = self.proj_in(x)
        tokens = x.shape[1]

        temb_t, proj_t = self.time_embed(timestep)
        temb_r, proj_r = self.time_embed_r(timestep - timestep_r)
        temb, timestep_proj = temb_t + temb_r, proj_t + proj_r
        condition = self.condition_embedder(encoder_hidden_states.to(dtype))
        rope = self.rotary_emb(tokens, x.device, x.dtype)
        masks = layer_masks(self.config, tokens, x.dtype, x.device)
        for layer in self.layers:
            x = layer(x, timestep_proj, rope, masks[layer.attention_type], condition, None)

        shift, scale = (self.scale_shift_table + temb[:, None]).chunk(2, dim=1)
        x = self.norm_out(x) * (1 + scale) + shift
        return (self.proj_out(x)[:, :frames],)


class AceStepConditionEncoder(AceStepPreTrainedModel):
    """Text, lyrics and reference audio to one packed condition sequence."""

    def __init__(self, config: AceStepConfig) -> None:
        super().__init__(config)
        self.text_projector = nn.Linear(config.text_hidden_dim, config.hidden_size, bias=False)
        self.lyric_encoder = AceStepLyricEncoder(config)
        self.timbre_encoder = AceStepTimbreEncoder(config)
        self.post_init()

    def forward(
        self,
        text_hidden_states: torch.Tensor,
        text_attention_mask: torch.Tensor,
        lyric_hidden_states: torch.Tensor,
        lyric_attention_mask: torch.Tensor,
        refer_audio_acoustic_hidden_states_packed: torch.Tensor,
        refer_audio_order_mask: torch.Tensor,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (states [B, Ll + refs + Lt, hidden], bool mask), valid tokens first in each row."""
        dtype = self.text_projector.weight.dtype
        text = self.text_projector(text_hidden_states.to(dtype))
        lyrics = self.lyric_encoder(lyric_hidden_states.to(dtype), lyric_attention_mask)
        timbre, timbre_mask = self._timbre(refer_audio_acoustic_hidden_states_packed.to(dtype),
                                           refer_audio_order_mask, text.shape[0])
        states = torch.cat([lyrics, timbre, text], dim=1)
        mask = torch.cat([lyric_attention_mask.bool(), timbre_mask, text_attention_mask.bool()], dim=1)
        order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices
        states = torch.gather(states, 1, order[..., None].expand_as(states))
        return states, torch.gather(mask, 1, order)

    def _timbre(self, packed: torch.Tensor, order_mask: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One vector per reference clip (its first frame's encoding), grouped back per sample."""
        encoded = self.timbre_encoder(packed)
        counts = torch.bincount(order_mask.long(), minlength=batch)
        slots = int(counts.max().item()) if order_mask.numel() else 0
        out = encoded.new_zeros(batch, slots, encoded.shape[-1])
        mask = torch.zeros(batch, slots, dtype=torch.bool, device=encoded.device)
        filled = [0] * batch
        for index, owner in enumerate(order_mask.tolist()):
            out[owner, filled[owner]] = encoded[index]
            mask[owner, filled[owner]] = True
            filled[owner] += 1
        return out, mask


class AceStepAttentionPooler(AceStepEncoderStack):
    """Pools each 5-frame patch into one vector: the patch is embedded, a learned query token goes
    in front, and that token's output is the pooled vector."""

    def __init__(self, config: AceStepConfig) -> None:
        super().__init__(config, config.hidden_size, config.num_attention_pooler_hidden_layers)
        self.special_token = nn.Parameter(torch.randn(1, 1, config.hidden_size) * config.initializer_range)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        batch, steps, window, hidden = patches.shape
        x = self.embed_tokens(patches).reshape(batch * steps, window, hidden)
        x = torch.cat([self.special_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
        return self.encode(x)[:, 0].view(batch, steps, hidden)


class AceStepAudioTokenizer(nn.Module):
    """25 Hz latents [B, T5, 5, 64] to 5 Hz codes: projection, attention pooling, residual FSQ."""

    def __init__(self, config: AceStepConfig) -> None:
        super().__init__()
        self.audio_acoustic_proj = nn.Linear(config.audio_acoustic_hidden_dim, config.hidden_size)
        self.attention_pooler = AceStepAttentionPooler(config)
        self.quantizer = ResidualFSQ(dim=config.fsq_dim, levels=list(config.fsq_input_levels),
                                     num_quantizers=config.fsq_input_num_quantizers)

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (quantized [B, T5, hidden], indices [B, T5, quantizers])."""
        pooled = self.attention_pooler(self.audio_acoustic_proj(patches))
        weight = next(self.quantizer.parameters(), None)
        if weight is not None and weight.dtype != torch.float32:
            self.quantizer.float()  # FSQ computes in float32 and feeds that to its own projections
        quantized, indices = self.quantizer(pooled.float())
        return quantized.to(pooled.dtype), indices


class AceStepAudioDetokenizer(AceStepEncoderStack):
    """5 Hz quantized vectors back to 25 Hz latent hints [B, T5 * 5, 64]: each vector is embedded,
    repeated over the 5 frames with a learned token per frame, encoded and projected out. Its layer
    count is `num_attention_pooler_hidden_layers`, as in the official code."""

    def __init__(self, config: AceStepConfig) -> None:
        super().__init__(config, config.hidden_size, config.num_attention_pooler_hidden_layers)
        window = config.pool_window_size
        self.special_tokens = nn.Parameter(torch.randn(1, window, config.hidden_size) * config.initializer_range)
        self.proj_out = nn.Linear(config.hidden_size, config.audio_acoustic_hidden_dim)

    def forward(self, quantized: torch.Tensor) -> torch.Tensor:
        batch, steps, hidden = quantized.shape
        x = self.embed_tokens(quantized).reshape(batch * steps, 1, hidden)
        x = self.encode(x + self.special_tokens.to(x.dtype))
        return self.proj_out(x).reshape(batch, steps * x.shape[1], -1)


class AceStepConditionGenerationModel(AceStepPreTrainedModel):
    """The whole model: `decoder`, `encoder`, `tokenizer`, `detokenizer`, `null_condition_emb`."""

    _keep_in_fp32_modules = ["quantizer"]  # the FSQ's projections see its float32 output

    def __init__(self, config: AceStepConfig) -> None:
        super().__init__(config)
        self.decoder = AceStepDiTModel(config)
        self.encoder = AceStepConditionEncoder(config)
        self.tokenizer = AceStepAudioTokenizer(config)
        self.detokenizer = AceStepAudioDetokenizer(config)
        self.null_condition_emb = nn.Parameter(torch.randn(1, 1, config.hidden_size) * config.initializer_range)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.decoder.proj_in

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, timestep_r: torch.Tensor,
                attention_mask: torch.Tensor, context_latents: torch.Tensor, **condition) -> tuple[torch.Tensor]:
        """Encode the condition (the encoder's six inputs as keywords), then predict the velocity."""
        states, mask = self.encoder(**condition)
        return self.decoder(hidden_states, timestep, timestep_r, attention_mask, states, mask, context_latents)
