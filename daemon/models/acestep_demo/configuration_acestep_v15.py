"""Configuration of the studio's demo ACE-Step 1.5 DiT (`model_type: "acestep"`).

The field names follow the real ACE-Step 1.5 config (ACESTEP_INTERFACE.md section 2), so the same
code reads a real checkpoint's numbers or the demo's tiny ones. This file is copied next to the
demo weights and imported by transformers as remote code: it must stay self-contained.
"""
from __future__ import annotations

from transformers import PretrainedConfig


class AceStepConfig(PretrainedConfig):
    """Sizes of the condition encoder, the DiT decoder and the audio tokenizer; tiny by default."""

    model_type = "acestep"

    def __init__(
        self,
        hidden_size: int = 128,
        intermediate_size: int = 256,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 4,
        num_key_value_heads: int = 2,
        head_dim: int = 32,
        in_channels: int = 192,
        patch_size: int = 2,
        text_hidden_dim: int = 64,
        audio_acoustic_hidden_dim: int = 64,
        num_lyric_encoder_hidden_layers: int = 1,
        num_timbre_encoder_hidden_layers: int = 1,
        num_tokenizer_hidden_layers: int = 1,
        num_detokenizer_hidden_layers: int = 1,
        pool_window_size: int = 5,
        fsq_levels: list[int] | None = None,
        fsq_num_quantizers: int = 1,
        rms_norm_eps: float = 1e-6,
        rope_theta: float = 1_000_000.0,
        max_position_embeddings: int = 32768,
        sliding_window: int | None = 128,
        attention_dropout: float = 0.0,
        initializer_range: float = 0.02,
        timestep_mu: float = -0.4,
        timestep_sigma: float = 1.0,
        is_turbo: bool = True,
        model_version: str = "v15-demo",
        **kwargs,
    ) -> None:
        if hidden_size % 2:
            raise ValueError("hidden_size must be even (sinusoidal timestep features)")
        if num_attention_heads % num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.text_hidden_dim = text_hidden_dim
        self.audio_acoustic_hidden_dim = audio_acoustic_hidden_dim
        self.num_lyric_encoder_hidden_layers = num_lyric_encoder_hidden_layers
        self.num_timbre_encoder_hidden_layers = num_timbre_encoder_hidden_layers
        self.num_tokenizer_hidden_layers = num_tokenizer_hidden_layers
        self.num_detokenizer_hidden_layers = num_detokenizer_hidden_layers
        self.pool_window_size = pool_window_size
        self.fsq_levels = list(fsq_levels) if fsq_levels is not None else [8, 8, 8, 5, 5, 5]
        self.fsq_num_quantizers = fsq_num_quantizers
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.max_position_embeddings = max_position_embeddings
        self.sliding_window = sliding_window
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        self.timestep_mu = timestep_mu
        self.timestep_sigma = timestep_sigma
        self.is_turbo = is_turbo
        self.model_version = model_version
        super().__init__(**kwargs)
