"""Side-Step and ace-lora-trainer preset files, both ways (FEATURES PR-3).

Both tools keep a preset as one flat JSON object in their own key names. The mapping to
`TrainSettings` is declared once, here: every key of theirs is either a studio setting of the same
name (derived from the registry), renamed (with value spellings translated), fixed (the studio
always behaves one way: only that value can be carried) or without a counterpart. Import refuses a
value outside the studio's range, naming their key and our setting, and lists every key it did not
carry; export lists the studio settings the other tool has no key for. Nothing is dropped silently.

    imported = import_foreign(data, source="fast.json")         # format detected (or fmt="sidestep")
    imported.settings, imported.carried, imported.not_carried, imported.unknown
    data, left_out = export_foreign(settings, "sidestep", name="mine", description="...")

No torch here: the CLI and the Train page use it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.errors import SettingsError
from shared.presets import variant_for
from shared.train_settings import TrainSettings

STUDIO_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
NOT_EXPORTED = ("tensors_dir", "checkpoint", "resume_from")  # paths of this machine, not a preset's


@dataclass(frozen=True)
class Rename:
    """Their key is our setting `ours`; `values` translates their spellings to ours."""

    ours: str
    values: dict = field(default_factory=dict)
    only_for: tuple[str, ...] = ()  # adapter types the key applies to (empty: all)
    back: dict | None = None  # our value -> theirs on export, where not simply `values` reversed

    def theirs(self, ours: Any) -> Any:
        back = self.back if self.back is not None else {v: k for k, v in self.values.items()}
        return back.get(ours, ours)


@dataclass(frozen=True)
class Fixed:
    """The studio always behaves as `value`; a file asking for another value cannot be carried."""

    value: Any
    why: str

    def accepts(self, value: Any) -> bool:
        return value == self.value


@dataclass(frozen=True)
class FixedProjections(Fixed):
    """A target-modules string: the studio's projections in any order or prefix count as the same."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and _projections(value) == _projections(self.value)


@dataclass(frozen=True)
class Unmapped:
    """No counterpart in the studio: reported on import, never written on export."""

    why: str


@dataclass(frozen=True)
class PresetFormat:
    name: str
    label: str
    keys: tuple[str, ...]  # every setting key the tool writes in a preset
    renames: dict[str, Rename]
    fixed: dict[str, Fixed]
    unmapped: dict[str, str]  # key -> why it has no counterpart
    description_key: str
    name_key: str | None = None

    def fields(self) -> dict[str, Rename | Fixed | Unmapped]:
        """Every key of theirs: renamed, fixed, the same as a studio setting, or without counterpart."""
        ours = set(TrainSettings.names())
        out: dict[str, Rename | Fixed | Unmapped] = {}
        for key in self.keys:
            if key in self.renames:
                out[key] = self.renames[key]
            elif key in self.fixed:
                out[key] = self.fixed[key]
            elif key in ours:
                out[key] = Rename(key)
            else:
                out[key] = Unmapped(self.unmapped.get(key, "no counterpart in the studio"))
        return out


def _projections(text: str) -> set[str]:
    """The attention projections a target-modules string names, without self_attn./cross_attn."""
    names = {part.strip().rsplit(".", 1)[-1] for part in text.replace(",", " ").split() if part.strip()}
    return names - {"gate_proj", "up_proj", "down_proj"}  # the MLP comes with target_mlp


LOKR_ONLY, LOHA_ONLY = ("lokr",), ("loha",)
SCHEDULER_SPELLINGS = {"cosine_restarts": "cosine_with_restarts"}
ALWAYS_OFFLOADED = Fixed(True, "the studio always moves the encoder off the GPU while training")

SIDESTEP = PresetFormat(
    name="sidestep", label="Side-Step", name_key="name", description_key="description",
    keys=("adapter_type", "rank", "alpha", "dropout", "target_modules_str", "attention_type", "target_mlp",
          "bias", "learning_rate", "batch_size", "gradient_accumulation", "epochs", "max_steps",
          "dataset_repeats", "warmup_steps", "weight_decay", "max_grad_norm", "seed", "optimizer_type",
          "scheduler_type", "cfg_ratio", "loss_weighting", "snr_gamma", "save_every", "save_best",
          "save_best_after", "early_stop_patience", "target_loss", "log_every", "log_heavy_every",
          "gradient_checkpointing", "gradient_checkpointing_ratio", "offload_encoder", "shift",
          "num_inference_steps", "self_target_modules_str", "cross_target_modules_str",
          "lokr_linear_dim", "lokr_linear_alpha", "lokr_factor", "lokr_decompose_both", "lokr_use_tucker",
          "lokr_use_scalar", "lokr_weight_decompose", "loha_linear_dim", "loha_linear_alpha", "loha_factor",
          "loha_use_tucker", "loha_use_scalar"),
    renames={
        "attention_type": Rename("attention_targets"),
        "cfg_ratio": Rename("cfg_dropout"),
        "save_every": Rename("save_every_epochs"),
        "save_best_after": Rename("best_warmup_epochs"),
        "optimizer_type": Rename("optimizer"),
        "scheduler_type": Rename("scheduler", SCHEDULER_SPELLINGS),
        **{f"lokr_{k}": Rename(f"lokr_{k}", only_for=LOKR_ONLY)
           for k in ("linear_dim", "linear_alpha", "factor", "decompose_both", "use_tucker")},
        # The studio keeps LoHa's dims in its lokr_* settings (one set for both LyCORIS kinds).
        **{f"loha_{k}": Rename(f"lokr_{k}", only_for=LOHA_ONLY)
           for k in ("linear_dim", "linear_alpha", "factor", "use_tucker")},
    },
    fixed={
        "target_modules_str": FixedProjections(" ".join(STUDIO_PROJECTIONS), "the studio trains the q, k, v and o "
                                    "projections of the chosen attention (and the MLP with target_mlp)"),
        "bias": Fixed("none", "the studio never trains biases"),
        "save_best": Fixed(True, "the studio always keeps the best model (best/, and final/ is it)"),
        "offload_encoder": ALWAYS_OFFLOADED,
        "log_every": Fixed(1, "the studio records every step (metrics.jsonl, TensorBoard)"),
    },
    unmapped={
        "target_loss": "the studio has no loss target to stop at (use early_stop_patience)",
        "log_heavy_every": "the studio logs no per-layer gradient norms",
        "shift": "a sampling setting; training draws timesteps by timestep_mode",
        "num_inference_steps": "a sampling setting; training draws timesteps by timestep_mode",
        "self_target_modules_str": "the studio trains the same projections in self and cross attention",
        "cross_target_modules_str": "the studio trains the same projections in self and cross attention",
        "lokr_use_scalar": "not offered by the studio's LoKr",
        "lokr_weight_decompose": "not offered by the studio's LoKr (DoRA-style LoKr)",
        "loha_use_scalar": "not offered by the studio's LoHa",
    },
)

ACE_LORA_TRAINER = PresetFormat(
    name="ace-lora-trainer", label="ace-lora-trainer", description_key="_description",
    keys=("adapter_type", "optimizer_type", "scheduler_type", "learning_rate", "batch_size",
          "gradient_accumulation_steps", "max_epochs", "save_every_n_epochs", "warmup_steps", "weight_decay",
          "max_grad_norm", "seed", "mixed_precision", "gradient_checkpointing", "encoder_offloading",
          "torch_compile", "max_latent_length", "lora_r", "lora_alpha", "lora_dropout", "cfg_dropout_prob",
          "loss_weighting", "snr_gamma", "auto_save_best_after", "early_stop_patience", "attention_type",
          "log_every_n_steps", "model_type", "shift", "num_inference_steps", "dynamic_shift",
          "guidance_scale", "num_workers", "pin_memory", "output_dir"),
    renames={
        "optimizer_type": Rename("optimizer"),
        "scheduler_type": Rename("scheduler", SCHEDULER_SPELLINGS),
        "gradient_accumulation_steps": Rename("gradient_accumulation"),
        "max_epochs": Rename("epochs"),
        "save_every_n_epochs": Rename("save_every_epochs"),
        "mixed_precision": Rename("precision", {"bf16": "bf16-mixed", "fp16": "16-mixed", "fp32": "32-true"}),
        # The studio's compile is auto/on/off; auto compiles only where it pays (CUDA, long runs).
        "torch_compile": Rename("compile", {True: "on", False: "off"},
                                back={"on": True, "off": False, "auto": False}),
        "max_latent_length": Rename("crop_frames"),
        "lora_r": Rename("rank"),
        "lora_alpha": Rename("alpha"),
        "lora_dropout": Rename("dropout"),
        "cfg_dropout_prob": Rename("cfg_dropout"),
        "auto_save_best_after": Rename("best_warmup_epochs"),
        "attention_type": Rename("attention_targets"),
    },
    fixed={
        "encoder_offloading": ALWAYS_OFFLOADED,
        "log_every_n_steps": Fixed(1, "the studio records every step (metrics.jsonl, TensorBoard)"),
    },
    unmapped={
        "model_type": "the studio reads the model's kind from the checkpoint you train on",
        "shift": "a sampling setting; training draws timesteps by timestep_mode",
        "num_inference_steps": "a sampling setting; training draws timesteps by timestep_mode",
        "dynamic_shift": "the studio has no per-batch shift; see timestep_mode",
        "guidance_scale": "a sampling setting",
        "num_workers": "the studio's data loading needs no workers setting",
        "pin_memory": "the studio's data loading needs no pinning setting",
        "output_dir": "the studio writes every run to its own run folder",
    },
)

FORMATS = {f.name: f for f in (SIDESTEP, ACE_LORA_TRAINER)}


@dataclass
class Imported:
    """A foreign preset read as studio settings, with what was carried and what was not."""

    format: str
    settings: TrainSettings
    name: str
    description: str
    carried: dict[str, tuple[str, Any]]  # their key -> (our setting, our value)
    not_carried: dict[str, tuple[Any, str]]  # their key -> (their value, why it cannot be carried)
    unknown: list[str]  # keys neither tool's mapping knows

    @property
    def label(self) -> str:
        return FORMATS[self.format].label

    def report(self) -> list[str]:
        """What the user is told: every key not carried and every unknown key, one per line."""
        lines = [f"{key} = {json.dumps(value)}: {why}" for key, (value, why) in self.not_carried.items()]
        return lines + [f"{key}: not a {self.label} setting the studio knows" for key in self.unknown]

    def preset_data(self, source: str) -> dict:
        """A studio preset file: the carried settings, one variant for the adapter, and provenance."""
        values = {ours: value for ours, value in self.carried.values() if ours != "adapter_type"}
        adapter = self.settings.adapter_type
        return {"description": self.description or f"Imported from {self.label} ({source})",
                "min_vram_gb": None, "settings": values,
                "variants": {variant_for(adapter): {"adapter_type": adapter}},
                "imported_from": {"format": self.format, "file": source,
                                  "not_carried": self.report()}}


def detect_format(data: dict, source: str = "preset") -> str:
    """Which tool wrote a flat preset, by the keys only that tool writes; SettingsError if unclear."""
    scores = {}
    for name, fmt in FORMATS.items():
        others = set().union(*(set(f.keys) for n, f in FORMATS.items() if n != name))
        scores[name] = len((set(data) & set(fmt.keys)) - others)
    best = max(scores, key=scores.__getitem__)
    if scores[best] == 0 or list(scores.values()).count(scores[best]) > 1:
        raise SettingsError(f"{source}: cannot tell which tool wrote this preset; say which "
                            f"({' or '.join(FORMATS)})")
    return best


def import_foreign(data: Any, fmt: str | None = None, source: str = "preset") -> Imported:
    """A Side-Step or ace-lora-trainer preset as studio settings; SettingsError naming their key and
    our setting for a value the studio cannot take (nothing is imported then)."""
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a JSON object of preset settings")
    fmt = fmt or detect_format(data, source)
    spec = _format(fmt)
    fields = spec.fields()
    adapter = data.get("adapter_type", "lora")
    carried: dict[str, tuple[str, Any]] = {}
    not_carried: dict[str, tuple[Any, str]] = {}
    unknown: list[str] = []
    for key, value in data.items():
        if key in (spec.name_key, spec.description_key):
            continue
        rule = fields.get(key)
        if rule is None:
            unknown.append(key)
        elif isinstance(rule, Unmapped):
            not_carried[key] = (value, rule.why)
        elif isinstance(rule, Fixed):
            if not rule.accepts(value):
                not_carried[key] = (value, rule.why)
        elif rule.only_for and adapter not in rule.only_for:
            not_carried[key] = (value, f"only used for {'/'.join(rule.only_for)} adapters; this one is {adapter}")
        else:
            carried[key] = (rule.ours, _our_value(rule, key, value, spec, source))
    values = {ours: value for ours, value in carried.values()}
    try:
        settings = TrainSettings.from_dict(values)
    except SettingsError as err:
        raise SettingsError(f"{spec.label} preset {source}: {err}") from None
    return Imported(fmt, settings, str(data.get(spec.name_key) or "") if spec.name_key else "",
                    str(data.get(spec.description_key) or ""), carried, not_carried, sorted(unknown))


def _our_value(rule: Rename, key: str, value: Any, spec: PresetFormat, source: str) -> Any:
    """Their value in our spelling and type, checked against the setting's range."""
    setting = TrainSettings.spec(rule.ours)
    if isinstance(value, (str, int, float, bool)):
        value = next((ours for theirs, ours in rule.values.items()
                      if theirs == value and type(theirs) is type(value)), value)
    try:
        if isinstance(value, str) and setting.type is not str:
            return setting.parse_text(value, "train")  # "1e-4" written as text
        return setting.check(value, "train")
    except SettingsError as err:
        detail = str(err).split(": ", 1)[-1]
        raise SettingsError(f"{spec.label} preset {source}: {key} = {json.dumps(value)} cannot be taken as "
                            f"the studio's {setting.label.lower()} ({rule.ours}): {detail}") from None


def export_foreign(settings: TrainSettings, fmt: str, name: str = "",
                   description: str = "") -> tuple[dict, list[str]]:
    """The settings as the tool's flat preset, and the studio settings it has no key for
    (`name = value`), so the user knows what the other tool will do its own way."""
    spec = _format(fmt)
    out: dict[str, Any] = {}
    if spec.name_key:
        out[spec.name_key] = name
    out[spec.description_key] = description
    written = set()
    for key, rule in spec.fields().items():
        if isinstance(rule, Fixed):
            out[key] = rule.value
        elif isinstance(rule, Rename) and (not rule.only_for or settings.adapter_type in rule.only_for):
            out[key] = rule.theirs(getattr(settings, rule.ours))
            written.add(rule.ours)
    unused = set(NOT_EXPORTED) | (set() if settings.is_lycoris else
                                  {s for s in TrainSettings.names() if s.startswith("lokr_")})
    left_out = [f"{s.name} = {json.dumps(getattr(settings, s.name))}" for s in TrainSettings.specs()
                if s.name not in written and s.name not in unused]
    return out, left_out


def _format(fmt: str) -> PresetFormat:
    if fmt not in FORMATS:
        raise SettingsError(f"unknown preset format {fmt!r}; known: {', '.join(FORMATS)}")
    return FORMATS[fmt]


def mapping_markdown() -> str:
    """The mapping of every format as Markdown tables (docs/PRESETS.md holds this text)."""
    lines = []
    for fmt in FORMATS.values():
        lines += [f"### {fmt.label}", "", f"| {fmt.label} key | studio | note |", "|---|---|---|"]
        for key, rule in fmt.fields().items():
            if isinstance(rule, Rename):
                spell = ", ".join(f"`{a}` = `{b}`" for a, b in rule.values.items())
                only = f"only for {'/'.join(rule.only_for)} adapters" if rule.only_for else ""
                note = "; ".join(n for n in (spell, only) if n)
                lines.append(f"| `{key}` | `{rule.ours}` | {note} |")
            elif isinstance(rule, Fixed):
                lines.append(f"| `{key}` | always `{json.dumps(rule.value)}` | {rule.why} |")
            else:
                lines.append(f"| `{key}` | (not carried) | {rule.why} |")
        lines.append("")
    return "\n".join(lines)
