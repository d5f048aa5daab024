"""Every training setting, declared once (see shared/settings.py).

The `train` job kind, the CLI's `train` verb, presets, profiles and the dashboard's Train page are
all derived from `TrainSettings`. No torch here: the engine in daemon/train/ reads these values.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.errors import SettingsError
from shared.sample_settings import check_strengths, clip_setting
from shared.settings import SettingsGroup, setting

ADAPTER_TYPES = ("lora", "dora", "lokr", "loha")
LYCORIS_TYPES = ("lokr", "loha")  # trained through LyCORIS; the others through PEFT
ATTENTION_TARGETS = ("both", "self", "cross")
TIMESTEP_MODES = ("model", "logit_normal", "discrete_turbo", "uniform")
LOSS_WEIGHTINGS = ("none", "min_snr")
OPTIMIZERS = ("adamw", "adamw8bit", "adafactor", "prodigy")
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts")
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true")
STRATEGIES = ("auto", "ddp", "zero1")  # several devices: auto = ddp (daemon/train/distributed.py)
ZERO1_OPTIMIZERS = ("adamw", "adafactor")  # their state is per parameter, so it can be split up
COMPILE_MODES = ("auto", "on", "off")

# Settings whose change between a checkpoint and its resume changes the optimisation itself;
# `strict_resume` refuses such a resume (and one that changes the global batch: batch_changes).
OPTIMIZER_SETTINGS = (
    "optimizer", "learning_rate", "weight_decay", "scheduler", "warmup_steps", "gradient_accumulation",
    "max_grad_norm", "dataset_repeats",
)
# A step's batch is batch_size x GPUs x machines (the global batch): the same global batch on another
# number of GPUs gives the same epochs and the same optimisation.
BATCH_SHAPE_SETTINGS = ("batch_size", "devices", "num_nodes")
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
    tensors_dir: str = setting("", "Folder of training tensors (made by preprocessing).", section="Data",
                               label="Training tensors folder")
    checkpoint: str = setting("", "DiT checkpoint to train on (name as listed by `checkpoints`); empty: the "
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
    dataset_repeats: int = setting(1, "Times every sample is seen per epoch, all shuffled together (more "
                                   "steps per epoch; Side-Step's dataset_repeats).", section="Training",
                                   importance="advanced", minimum=1, maximum=1000)

    # -- performance -------------------------------------------------------------------
    gradient_checkpointing: bool = setting(False, "Recompute activations in the backward pass (less "
                                           "memory, slower).", section="Performance")
    gradient_checkpointing_ratio: float = setting(1.0, "Share of the decoder's layers recomputed when "
                                                  "gradient checkpointing is on (1 = all; less is faster "
                                                  "and uses more memory).", section="Performance",
                                                  importance="advanced", minimum=0.0, maximum=1.0)
    compile: str = setting("auto", "torch.compile the decoder: auto (on for CUDA runs long enough to repay "
                           "the warm-up of a minute or two, off on CPU and MPS), on, or off. A compile "
                           "failure falls back to eager with a warning.", section="Performance",
                           importance="advanced", choices=COMPILE_MODES)
    precision: str = setting("auto", "Precision: auto (bf16-mixed on Ampere+, 16-mixed on older "
                             "GPUs, 32-true on CPU).", section="Performance", importance="advanced",
                             choices=PRECISIONS)

    # -- several GPUs and machines (docs/TRAINING.md, "Several GPUs and machines") ---------------
    devices: int = setting(1, "GPUs of this machine that train together (the first N; CUDA_VISIBLE_DEVICES "
                           "picks others), each on its share of every batch: batch_size is per GPU, so a step "
                           "sees batch_size x GPUs samples. 1 trains on the daemon's device.",
                           section="Several GPUs", importance="advanced", minimum=1, label="GPUs")
    num_nodes: int = setting(1, "Machines that train together, each with the same number of GPUs; the job "
                             "prints the command to run on the others.", section="Several GPUs",
                             importance="expert", minimum=1, label="Machines")
    strategy: str = setting("auto", "How several GPUs share the work: ddp keeps the whole adapter and "
                            "optimizer state on each; zero1 splits the optimizer state across them (less "
                            "memory per GPU; adamw and adafactor only); auto = ddp. Unused on one GPU.",
                            section="Several GPUs", importance="expert", choices=STRATEGIES)
    master_addr: str = setting("", "Several machines: the address of this machine that the others reach.",
                               section="Several GPUs", importance="expert", label="Main machine address")
    master_port: int = setting(0, "Several machines: the port they meet on at the main machine; 0 picks a "
                               "free one.", section="Several GPUs", importance="expert", minimum=0,
                               maximum=65535, label="Main machine port")

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

    # -- samples during training (declared with `generate`'s, shared/sample_settings.py) ---------
    sample_every_epochs: int | None = setting(None, "Render samples every N epochs and at the end; empty = the "
                                              "checkpoint interval, 0 = no samples.", section="Samples",
                                              minimum=0, label="Sample every N epochs")
    sample_prompts: str = setting("", "Captions to sample, separated by | (captions hold commas), one clip each "
                                  "per strength; empty = the first training sample's caption (with its trigger "
                                  "word).", section="Samples", label="Sample prompts")
    sample_strengths: list[float] = clip_setting("strengths", default=[0.5, 1.0, 1.5], section="Samples",
                                                 label="Sample strengths")
    sample_seconds: float | None = clip_setting("seconds", default=None, section="Samples",
                                                help="Length of each sample; empty = the first training sample's "
                                                "duration, at most 30 s.", label="Sample duration (seconds)")
    sample_seed: int = clip_setting("seed", section="Samples", importance="advanced", label="Sample seed")
    sample_lyrics: str | None = clip_setting("lyrics", default=None, section="Samples", importance="advanced",
                                             help="Lyrics of the samples; empty = the first training sample's.",
                                             label="Sample lyrics")
    sample_bpm: int | None = clip_setting("bpm", section="Samples", importance="advanced", label="Sample BPM",
                                          help="Tempo of the samples; empty = the first training sample's.")
    sample_key: str | None = clip_setting("key", default=None, section="Samples", importance="advanced",
                                          help="Key of the samples; empty = the first training sample's.",
                                          label="Sample key")
    sample_timesignature: str | None = clip_setting(
        "timesignature", default=None, section="Samples", importance="advanced", label="Sample time signature",
        help="Time signature of the samples; empty = the first training sample's.")
    sample_language: str | None = clip_setting("language", default=None, section="Samples", importance="advanced",
                                               help="Lyrics language of the samples; empty = the first training "
                                               "sample's.", label="Sample language")
    sample_steps: int = clip_setting("steps", section="Samples", importance="expert", label="Sample steps")
    sample_guidance: float = clip_setting("guidance", section="Samples", importance="expert",
                                          label="Sample guidance")
    sample_shift: float | None = clip_setting("shift", section="Samples", importance="expert", label="Sample shift")
    sample_format: str = clip_setting("format", section="Samples", importance="expert", label="Sample format")

    # -- resume ------------------------------------------------------------------------
    resume_from: str | None = setting(None, "Checkpoint folder to resume from (checkpoints/epoch_N).",
                                      section="Resume")
    strict_resume: bool = setting(False, "Refuse a resume whose optimizer settings differ from the "
                                  "checkpoint's.", section="Resume", importance="advanced")

    @classmethod
    def from_dict(cls, data: dict | None, *, strict: bool = True) -> "TrainSettings":
        if isinstance(data, dict) and isinstance(data.get("compile"), bool):
            # Settings saved when compile was a yes/no switch (profiles, checkpoints, presets).
            data = {**data, "compile": "on" if data["compile"] else "off"}
        return super().from_dict(data, strict=strict)

    def validate(self) -> None:
        check_strengths(self.sample_strengths, "train.sample_strengths")
        if self.strategy == "zero1" and self.optimizer not in ZERO1_OPTIMIZERS:
            raise self.field_error("strategy", f"zero1 splits the optimizer state, which works with "
                                   f"{' and '.join(ZERO1_OPTIMIZERS)}, not {self.optimizer}")
        if self.num_nodes > 1 and not self.master_addr:
            raise self.field_error("master_addr", "several machines need the address the others reach "
                                   "this one at")
        if self.optimizer == "prodigy" and self.learning_rate < 0.1:
            raise SettingsError(
                f"train.learning_rate: Prodigy adapts the step size itself and expects 1.0, got "
                f"{self.learning_rate}"
            )

    @property
    def world_size(self) -> int:
        """Training processes in all: one per GPU of every machine."""
        return self.devices * self.num_nodes

    @property
    def global_batch_size(self) -> int:
        """Samples in one batch of all GPUs together: what the epoch's order is cut into."""
        return global_batch_size(self.to_dict())

    @property
    def is_lycoris(self) -> bool:
        return adapter_family(self.adapter_type) == "lycoris"


def adapter_family(adapter_type: str) -> str:
    """"lycoris" (LoKr, LoHa) or "peft" (LoRA, DoRA): the library, file format and shape settings."""
    return "lycoris" if adapter_type in LYCORIS_TYPES else "peft"


def global_batch_size(values: dict) -> int:
    """batch_size x GPUs x machines of a settings dict (a checkpoint's too; older ones trained on one)."""
    return int(values.get("batch_size", 1)) * int(values.get("devices") or 1) * int(values.get("num_nodes") or 1)


def batch_changes(saved: dict, current: dict) -> list[str]:
    """The batch settings a resume changes when the global batch changes with them; none when it
    stays the same (another number of GPUs with batch_size adjusted to match)."""
    if global_batch_size(saved) == global_batch_size(current):
        return []
    return [name for name in BATCH_SHAPE_SETTINGS if (saved.get(name) or 1) != (current.get(name) or 1)]
