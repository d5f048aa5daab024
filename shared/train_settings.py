"""Every training setting, declared once (see shared/settings.py).

The `train` job kind, the CLI's `train` verb, presets, profiles and the dashboard's Train page are
all derived from `TrainSettings`. No torch here: the engine in daemon/train/ reads these values.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.errors import SettingsError
from shared.settings import SettingsGroup, setting

ADAPTER_TYPES = ("lora", "dora", "lokr", "loha")
ATTENTION_TARGETS = ("both", "self", "cross")
TIMESTEP_MODES = ("model", "logit_normal", "discrete_turbo", "uniform")
LOSS_WEIGHTINGS = ("none", "min_snr")
OPTIMIZERS = ("adamw", "adamw8bit", "adafactor", "prodigy")
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts")
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true")

# Settings whose change between a checkpoint and its resume changes the optimisation itself;
# `strict_resume` refuses such a resume.
OPTIMIZER_SETTINGS = (
    "optimizer", "learning_rate", "weight_decay", "scheduler", "warmup_steps", "batch_size",
    "gradient_accumulation", "max_grad_norm",
)
# Settings that must match the checkpoint, always: the adapter's shape, per adapter family.
ADAPTER_SHAPE_SETTINGS = {
    "peft": ("adapter_type", "rank", "alpha", "attention_targets", "target_mlp"),
    "lycoris": ("adapter_type", "lokr_factor", "lokr_linear_dim", "lokr_linear_alpha", "lokr_decompose_both",
                "lokr_use_tucker", "attention_targets", "target_mlp"),
}

# Settings that only some adapter types read; forms show those of the chosen type only.
ADAPTER_ONLY = {
    "rank": ("lora", "dora"), "alpha": ("lora", "dora"),
    "lokr_factor": ("lokr",), "lokr_decompose_both": ("lokr",),
    "lokr_linear_dim": ("lokr", "loha"), "lokr_linear_alpha": ("lokr", "loha"), "lokr_use_tucker": ("lokr", "loha"),
}


def settings_not_for(adapter_type: str) -> tuple[str, ...]:
    """The settings an adapter type does not read (LoRA's rank for a LoKr, LoKr's dims for a LoRA)."""
    return tuple(name for name, types in ADAPTER_ONLY.items() if adapter_type not in types)


@dataclass
class TrainSettings(SettingsGroup):
    group_name = "train"

    # -- data and model -------------------------------------------------------------------
    tensors_dir: str = setting("", "Folder of training tensors (made by preprocessing).", section="Data")
    checkpoint: str = setting("", "DiT checkpoint to train on (name as listed by `models`); empty: the "
                              "one selected in the daemon.", section="Data")
    crop_frames: int = setting(1500, "Random crop of longer latents, in frames (25 per second); 0 keeps "
                               "whole clips.", section="Data", importance="advanced", minimum=0)
    validation_share: float = setting(0.0, "Share of the samples held out for a validation loss with "
                                      "fixed noise and timesteps (0 = none).", section="Data",
                                      importance="advanced", minimum=0.0, maximum=0.5)

    # -- adapter ------------------------------------------------------------------------
    adapter_type: str = setting("lora", "Adapter: LoRA (PEFT), DoRA (PEFT), LoKr or LoHa (LyCORIS).",
                                section="Adapter", choices=ADAPTER_TYPES)
    rank: int = setting(64, "LoRA/DoRA rank.", section="Adapter", minimum=1, maximum=1024)
    alpha: int = setting(128, "LoRA/DoRA alpha (scale = alpha / rank).", section="Adapter", minimum=1)
    dropout: float = setting(0.1, "Adapter dropout.", section="Adapter", importance="advanced",
                             minimum=0.0, maximum=0.9)
    lokr_factor: int = setting(-1, "LoKr Kronecker factor (-1 = as balanced as possible).",
                               section="Adapter", importance="advanced", minimum=-1)
    lokr_linear_dim: int = setting(64, "LoKr/LoHa linear dim (rank of the decomposed factor).",
                                   section="Adapter", minimum=1)
    lokr_linear_alpha: int = setting(128, "LoKr/LoHa linear alpha.", section="Adapter", minimum=1)
    lokr_decompose_both: bool = setting(False, "LoKr: decompose both Kronecker factors.",
                                        section="Adapter", importance="expert")
    lokr_use_tucker: bool = setting(False, "LoKr/LoHa: Tucker decomposition.", section="Adapter",
                                    importance="expert")
    attention_targets: str = setting("both", "Attention the adapter trains: self, cross or both.",
                                     section="Adapter", choices=ATTENTION_TARGETS)
    target_mlp: bool = setting(False, "Also train the MLP projections (gate, up, down).",
                               section="Adapter")

    # -- timesteps and loss ----------------------------------------------------------------
    timestep_mode: str = setting("model", "Timestep sampling: the checkpoint's own (max of two logit-"
                                 "normal draws), one logit-normal draw, the turbo schedule, uniform.",
                                 section="Timesteps and loss", importance="advanced",
                                 choices=TIMESTEP_MODES)
    cfg_dropout: float = setting(0.15, "Per-sample chance of training with the null condition.",
                                 section="Timesteps and loss", importance="advanced",
                                 minimum=0.0, maximum=1.0)
    loss_weighting: str = setting("none", "Loss weighting: none or min-SNR.",
                                  section="Timesteps and loss", importance="advanced",
                                  choices=LOSS_WEIGHTINGS)
    snr_gamma: float = setting(5.0, "Min-SNR gamma.", section="Timesteps and loss",
                               importance="advanced", minimum=0.1)

    # -- optimiser ---------------------------------------------------------------------
    learning_rate: float = setting(1e-4, "Learning rate (Prodigy: 1.0).", section="Optimizer",
                                   minimum=0.0)
    optimizer: str = setting("adamw", "Optimizer.", section="Optimizer", choices=OPTIMIZERS)
    weight_decay: float = setting(0.01, "Weight decay.", section="Optimizer", importance="advanced",
                                  minimum=0.0)
    scheduler: str = setting("cosine", "Learning-rate schedule.", section="Optimizer",
                             choices=SCHEDULERS)
    warmup_steps: int = setting(100, "Warm-up optimizer steps.", section="Optimizer", minimum=0)
    max_grad_norm: float = setting(1.0, "Gradient clipping norm (0 = off).", section="Optimizer",
                                   importance="advanced", minimum=0.0)

    # -- length and batching -------------------------------------------------------------
    epochs: int = setting(100, "Epochs.", section="Training", minimum=1)
    max_steps: int = setting(0, "Stop after this many optimizer steps (0 = no limit).",
                             section="Training", importance="advanced", minimum=0)
    batch_size: int = setting(1, "Samples per batch.", section="Training", minimum=1)
    gradient_accumulation: int = setting(4, "Batches per optimizer step.", section="Training", minimum=1)
    seed: int = setting(42, "Seed for data order, noise, timesteps and dropout.", section="Training",
                        minimum=0)

    # -- performance -------------------------------------------------------------------
    gradient_checkpointing: bool = setting(False, "Recompute activations in the backward pass (less "
                                           "memory, slower).", section="Performance")
    compile: bool = setting(False, "torch.compile the decoder where safe (never with PEFT, not on CPU).",
                            section="Performance", importance="advanced")
    precision: str = setting("auto", "Precision: auto (bf16-mixed on Ampere+, 16-mixed on older "
                             "GPUs, 32-true on CPU).", section="Performance", importance="advanced",
                             choices=PRECISIONS)
    strategy: str = setting("auto", "Lightning Fabric strategy.", section="Performance",
                            importance="expert")

    # -- checkpoints and policies -----------------------------------------------------------
    save_every_epochs: int = setting(10, "Checkpoint every N epochs (0 = off).", section="Checkpoints",
                                     minimum=0)
    save_every_steps: int = setting(0, "Checkpoint every N optimizer steps (0 = off).",
                                    section="Checkpoints", importance="advanced", minimum=0)
    keep_last: int = setting(3, "Checkpoints kept (0 = all).", section="Checkpoints", minimum=0)
    best_warmup_epochs: int = setting(10, "Epochs before best-model tracking starts.",
                                      section="Checkpoints", importance="advanced", minimum=0)
    best_min_delta: float = setting(0.0, "Improvement of the 5-epoch moving average that counts as "
                                    "better.", section="Checkpoints", importance="advanced", minimum=0.0)
    early_stop_patience: int = setting(0, "Stop after N epochs without a better moving average "
                                       "(0 = never).", section="Checkpoints", importance="advanced",
                                       minimum=0)
    nan_halt: int = setting(10, "Halt after N non-finite losses in a row (0 = never halt; bad steps "
                            "are always skipped).", section="Checkpoints", importance="advanced",
                            minimum=0)

    # -- resume ------------------------------------------------------------------------
    resume_from: str | None = setting(None, "Checkpoint folder to resume from (checkpoints/epoch_N).",
                                      section="Resume")
    strict_resume: bool = setting(False, "Refuse a resume whose optimizer settings differ from the "
                                  "checkpoint's.", section="Resume", importance="advanced")

    def validate(self) -> None:
        if self.optimizer == "prodigy" and self.learning_rate < 0.1:
            raise SettingsError(
                f"train.learning_rate: Prodigy adapts the step size itself and expects 1.0, got "
                f"{self.learning_rate}"
            )

    @property
    def is_lycoris(self) -> bool:
        return self.adapter_type in ("lokr", "loha")
