"""Configuration of the studio's demo ACE-Step 1.5 DiT (`model_type: "acestep"`).

Every field is one the official `AceStepConfig` (configuration_acestep_v15.py of ACE-Step 1.5) takes,
with the same meaning, so a config written by the demo generator is one the official class accepts
as is, and the same code reads a real checkpoint's numbers or the demo's tiny ones (docs/DEMO_MODEL.md).
This file is copied next to the demo weights and imported by transformers as remote code: it must
stay self-contained.
"""
from __future__ import annotations

from transformers import PretrainedConfig

LAYER_TYPES = ("sliding_attention", "full_attention")


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
        timbre_hidden_dim: int = 64,
        num_lyric_encoder_hidden_layers: int = 1,
        num_timbre_encoder_hidden_layers: int = 1,
        num_attention_pooler_hidden_layers: int = 1,
        num_audio_decoder_hidden_layers: int = 2,
        pool_window_size: int = 5,
        fsq_dim: int = 128,
        fsq_input_levels: list[int] | None = None,
        fsq_input_num_quantizers: int = 1,
        rms_norm_eps: float = 1e-6,
        rope_theta: float = 1_000_000.0,
        max_position_embeddings: int = 32768,
        use_sliding_window: bool = True,
        sliding_window: int | None = 128,
        layer_types: list[str] | None = None,
        attention_dropout: float = 0.0,
        initializer_range: float = 0.02,
        timestep_mu: float = -0.4,
        timestep_sigma: float = 1.0,
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
        self.timbre_hidden_dim = timbre_hidden_dim
        self.num_lyric_encoder_hidden_layers = num_lyric_encoder_hidden_layers
        self.num_timbre_encoder_hidden_layers = num_timbre_encoder_hidden_layers
        # The official tokenizer's pooler and its detokenizer both have this many layers.
        self.num_attention_pooler_hidden_layers = num_attention_pooler_hidden_layers
        self.num_audio_decoder_hidden_layers = num_audio_decoder_hidden_layers  # read by no turbo module
        self.pool_window_size = pool_window_size
        self.fsq_dim = fsq_dim
        self.fsq_input_levels = list(fsq_input_levels) if fsq_input_levels is not None else [8, 8, 8, 5, 5, 5]
        self.fsq_input_num_quantizers = fsq_input_num_quantizers
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.max_position_embeddings = max_position_embeddings
        self.use_sliding_window = use_sliding_window
        self.sliding_window = sliding_window if use_sliding_window else None
        # As the official default: layer 0 slides, layer 1 attends to all, and so on; the condition
        # encoder's stacks index the same list.
        self.layer_types = list(layer_types) if layer_types is not None else [
            LAYER_TYPES[i % 2] for i in range(num_hidden_layers)]
        unknown = sorted(set(self.layer_types) - set(LAYER_TYPES))
        if unknown:
            raise ValueError(f"layer_types may hold {', '.join(LAYER_TYPES)}, not {', '.join(unknown)}")
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        self.timestep_mu = timestep_mu
        self.timestep_sigma = timestep_sigma
        self.model_version = model_version
        kwargs.setdefault("is_turbo", True)  # a key of the real turbo config.json, not of the class
        super().__init__(**kwargs)
