#!/usr/bin/env python3
"""GPU training benchmark (issue 14): the studio's engine against a hand-written loop, in one process,
on a full-size DiT built from the demo model's code at the real config (hidden 2048, 24 layers, 16
heads, 8 kv heads, head dim 128, intermediate 6144; random bf16 weights), synthetic 60 s samples
(1500 latent frames, condition length 600). LoRA r64/a128 on q/k/v/o and LoKr; bs 1 and 4; eager
and compiled; gradient checkpointing on and off; AdamW against 8-bit AdamW. Then preprocessing at
real size (bench/gpu_preprocess.py).

    python3 bench/gpu_train.py --out OUT            # on one CUDA GPU, under ~5 minutes
    python3 bench/gpu_train.py --tiny --out OUT     # tiny sizes on the CPU, to try the script

Each config runs only while the time budget (--budget seconds, compile warm-ups included) allows;
the rest are listed as skipped. OUT/gpu_train.json and OUT/gpu_train.md are rewritten after every
config, so a run cut short still leaves its figures. docs/PERFORMANCE.md explains the columns.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from daemon.train import batching  # noqa: E402
from daemon.train.adapters import build_adapter  # noqa: E402
from daemon.train.loop import train  # noqa: E402
from daemon.train.timesteps import TimestepSampler  # noqa: E402
from gpu_profile import StepProfiler, slug  # noqa: E402
from shared.train_settings import TrainSettings  # noqa: E402

REAL = dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=24, num_attention_heads=16,
            num_key_value_heads=8, head_dim=128)
LORA = dict(adapter_type="lora", rank=64, alpha=128)
LOKR = dict(adapter_type="lokr", lokr_factor=8, lokr_linear_dim=64, lokr_linear_alpha=128)  # recommended preset
LOKR_OLD = dict(adapter_type="lokr", lokr_factor=-1, lokr_linear_dim=64, lokr_linear_alpha=128)  # "full matrix"
COMMON = dict(gradient_accumulation=1, scheduler="constant", warmup_steps=0, dropout=0.0, save_every_epochs=0,
              keep_last=0, best_warmup_epochs=10**6, epochs=1000, learning_rate=1e-4, seed=0, cfg_dropout=0.15)
LORA_EAGER, LORA_COMPILED = "engine, LoRA, bs 1", "engine, LoRA, bs 1, compiled"  # the baselines of the LoKr rows
COMPILE_ESTIMATE_S = 150  # a cold compile of the full-size step, forward and backward (issue 14: ~120 s)


@dataclass
class Size:
    frames: int
    condition: int
    warmup: int
    steps: int
    tiny: bool


@dataclass
class Config:
    name: str
    loop: str  # "engine" or "hand"
    changes: dict
    estimate_s: float
    env: dict | None = None  # environment variables for this config only
    lycoris_forward: bool = False  # LoKr layers on LyCORIS's own forward instead of the studio's structured one
    needs: tuple[str, ...] = ()  # configs that must run before this one (by name)
    baseline: str | None = None  # the row its step time is divided by in the note, when that row ran


class BenchModel(nn.Module):
    """What the engine reads of AceStepConditionGenerationModel: decoder, null_condition_emb, config."""

    def __init__(self, decoder: nn.Module, config) -> None:
        super().__init__()
        self.decoder = decoder
        self.config = config
        self.null_condition_emb = nn.Parameter(torch.randn(1, 1, config.hidden_size) * 0.02, requires_grad=False)


def build_model(tiny: bool, device: torch.device, dtype: torch.dtype) -> BenchModel:
    """The DiT decoder of the demo model's code at the real (or the demo's tiny) config, random weights."""
    from daemon.models.acestep_demo.modeling_acestep_v15_turbo import AceStepDiTModel
    from daemon.models.demo_checkpoint import demo_config

    config = demo_config(**({} if tiny else REAL))  # layer_types follow num_hidden_layers
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        decoder = AceStepDiTModel(config).to(dtype)
    model = BenchModel(decoder, config).to(device=device, dtype=dtype)
    return model.eval().requires_grad_(False)


def make_samples(model: BenchModel, size: Size, count: int = 8, repeat: int = 8) -> list[dict]:
    """`count` distinct synthetic samples in the training-tensor format, listed `repeat` times (one
    epoch holds every measured step)."""
    gen = torch.Generator().manual_seed(0)
    hidden = model.config.hidden_size
    base = []
    for _ in range(count):
        base.append({
            "target_latents": torch.randn(size.frames, 64, generator=gen),
            "attention_mask": torch.ones(size.frames),
            "encoder_hidden_states": torch.randn(size.condition, hidden, generator=gen) * 0.1,
            "encoder_attention_mask": torch.ones(size.condition, dtype=torch.bool),
            "context_latents": torch.randn(size.frames, 128, generator=gen),
        })
    return base * repeat


class Collector:
    """A Reporter that keeps the events the benchmark reports (pre-flight notes, compile events)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def event(self, type: str, **data) -> None:
        if type in ("train_preflight", "compile_ready", "compile_fallback"):
            self.events.append((type, data))

    def metric(self, **values) -> None:
        pass

    def progress(self, done: int, total: int, message: str = "", **extra) -> None:
        pass

    def take_action(self, name: str) -> bool:
        return False

    def of(self, type: str) -> list[dict]:
        return [d for t, d in self.events if t == type]


def engine_run(model: BenchModel, samples: list[dict], changes: dict, size: Size,
               profiler: StepProfiler | None = None) -> dict:
    """The studio's train() for warmup + steps optimizer steps (+ the profiled ones after them);
    wall time between step ends."""
    stamps: list[float] = []
    extra = profiler.steps + 1 if profiler else 0  # train() asks should_stop after every step but the last
    settings = TrainSettings.from_dict({**COMMON, "crop_frames": size.frames, **changes,
                                        "max_steps": size.warmup + size.steps + 1 + extra})

    def after_step(step: int) -> bool:
        stamps.append(time.perf_counter())
        if profiler:
            profiler.on_step(step)
        return False

    reporter = Collector()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        train(settings, model, samples, run_dir, reporter, should_stop=after_step)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])][size.warmup - 1:size.warmup - 1 + size.steps]
    preflight = reporter.of("train_preflight")[0]
    notes = [e["message"] for e in reporter.of("compile_fallback")]
    ready = reporter.of("compile_ready")
    if ready:
        notes.append(f"compiled ({ready[0]['shapes']} shapes), Inductor cache hits {ready[0]['cache_hits']}")
    return {"median_step_ms": statistics.median(gaps) * 1e3, "first_step_s": stamps[0] - started,
            "run_s": time.perf_counter() - started, "trainable": preflight["trainable_parameters"],
            "note": "; ".join(notes)}


def hand_run(model: BenchModel, samples: list[dict], changes: dict, size: Size) -> dict:
    """The same training written by hand: PEFT/LyCORIS adapter, AdamW, clipping, bf16 autocast."""
    settings = TrainSettings.from_dict({**COMMON, **changes})
    device, dtype = next(model.decoder.parameters()).device, next(model.decoder.parameters()).dtype
    torch.manual_seed(0)
    adapter = build_adapter(settings)
    decoder = adapter.inject(model.decoder)
    adapter.to(device, torch.float32)
    decoder.train()
    params = [p for _, p in adapter.trainable_parameters()]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    sampler, null = TimestepSampler("model"), model.null_condition_emb
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    times, started = [], time.perf_counter()
    try:
        for step in range(size.warmup + size.steps):
            begun = time.perf_counter()
            chosen = [samples[(step * settings.batch_size + i) % len(samples)] for i in range(settings.batch_size)]
            batch = batching.collate(chosen).to(device, dtype)
            x0, bs = batch.target_latents.float(), batch.size
            t = sampler.sample(bs, device)
            noise = torch.randn_like(x0)
            drop = torch.rand(bs, device=device) < settings.cfg_dropout
            condition = torch.where(drop.view(-1, 1, 1), null.expand_as(batch.encoder_hidden_states),
                                    batch.encoder_hidden_states)
            x_t = t.view(-1, 1, 1) * noise + (1 - t.view(-1, 1, 1)) * x0
            with autocast:
                pred = decoder(hidden_states=x_t.to(dtype), timestep=t.to(dtype), timestep_r=t.to(dtype),
                               attention_mask=batch.attention_mask, encoder_hidden_states=condition,
                               encoder_attention_mask=batch.encoder_attention_mask,
                               context_latents=batch.context_latents)[0]
            loss = ((pred.float() - (noise - x0)) ** 2).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            loss.item()
            times.append(time.perf_counter() - begun)
    finally:
        adapter.remove()
    return {"median_step_ms": statistics.median(times[size.warmup:]) * 1e3, "first_step_s": times[0],
            "run_s": time.perf_counter() - started, "trainable": sum(p.numel() for p in params), "note": ""}


def plan(tiny: bool) -> list[Config]:
    """Configs in priority order: what a short budget skips comes last."""
    e = 0 if tiny else 8  # eager seconds per config on an H200: setup and 13 steps
    c = 15 if tiny else COMPILE_ESTIMATE_S
    bs4, gc_on, on, off = {"batch_size": 4}, {"gradient_checkpointing": True}, {"compile": "on"}, {"compile": "off"}
    return [
        Config("hand loop, LoRA, bs 1", "hand", LORA, e),
        Config(LORA_EAGER, "engine", {**LORA, **off}, e),
        Config("engine, LoRA, bs 4", "engine", {**LORA, **bs4, **off}, e),
        Config("engine, LoRA, bs 1, checkpointing", "engine", {**LORA, **gc_on, **off}, e),
        Config("engine, LoRA, bs 1, 8-bit AdamW", "engine", {**LORA, "optimizer": "adamw8bit", **off}, e),
        Config("engine, LoKr f8 d64, bs 1", "engine", {**LOKR, **off}, e, needs=(LORA_EAGER,), baseline=LORA_EAGER),
        Config("engine, LoKr f8 d64, bs 1, LyCORIS forward", "engine", {**LOKR, **off}, e, lycoris_forward=True,
               needs=(LORA_EAGER,), baseline=LORA_EAGER),
        Config(LORA_COMPILED, "engine", {**LORA, **on}, c),
        Config("preprocessing (gpu_preprocess.md)", "preprocess", {}, 0 if tiny else 60),
        Config("engine, LoRA, bs 1, compiled, 2nd run (cache)", "engine", {**LORA, **on}, c / 3,
               needs=(LORA_COMPILED,)),
        Config("engine, LoKr f8 d64, bs 1, compiled", "engine", {**LOKR, **on}, c, baseline=LORA_COMPILED),
        Config("engine, LoRA, bs 1, checkpointing, compiled", "engine", {**LORA, **gc_on, **on}, c),
        Config("hand loop, LoRA, bs 4", "hand", {**LORA, **bs4}, e),
        Config("engine, LoRA, bs 1, checkpointing, 8-bit AdamW", "engine",
               {**LORA, **gc_on, "optimizer": "adamw8bit", **off}, e),
        Config("engine, LoKr f-1 d64 (old default), bs 1", "engine", {**LOKR_OLD, **off}, e, baseline=LORA_EAGER),
        Config("engine, LoRA, bs 4, compiled", "engine", {**LORA, **bs4, **on}, c),
        Config("engine, LoKr f8 d64, bs 1, LyCORIS forward, auto kernels", "engine", {**LOKR, **off}, 6 * e,
               env={"LYCORIS_KERNEL_BACKEND": "auto"}, lycoris_forward=True, needs=(LORA_EAGER,),
               baseline=LORA_EAGER),
    ]


def select(configs: list[Config], only: list[str]) -> list[Config]:
    """The configs `--only` asks for, with the configs they need, in plan order (all without it)."""
    chosen = matching(configs, only)
    if not chosen:
        return configs
    chosen |= {need for c in configs if c.name in chosen for need in c.needs}
    return [c for c in configs if c.name in chosen]


def matching(configs: list[Config], values: list[str]) -> set[str]:
    """Names of the configs that --only / --profile values pick. Each value is a comma-separated list
    of parts (a comma followed by a space belongs to a name: "engine, LoRA, bs 1" is one part); a part
    equal to a config's name (any case) picks that config, any other part every config whose name
    contains it."""
    parts = [p.strip().lower() for value in values for p in re.split(r",(?! )", value) if p.strip()]
    names = {c.name.lower() for c in configs}
    unknown = [p for p in parts if p not in names and not any(p in n for n in names)]
    if unknown:
        listing = "\n".join(c.name for c in configs)
        raise SystemExit(f"{unknown} matches no config; the configs are:\n{listing}")
    return {c.name for c in configs for p in parts if (c.name.lower() == p if p in names else p in c.name.lower())}


class Table:
    """Rows so far, written as JSON and markdown after each one."""

    COLUMNS = ("config", "median_step_ms", "samples_per_s", "peak_gib", "over_weights_gib", "first_step_s",
               "run_s", "trainable", "note")

    def __init__(self, out: Path, meta: dict, name: str = "gpu_train") -> None:
        self.out, self.meta, self.name, self.rows = out, meta, name, []
        out.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        print(" | ".join(_cell(row.get(c)) for c in self.COLUMNS), flush=True)
        (self.out / f"{self.name}.json").write_text(json.dumps({**self.meta, "rows": self.rows}, indent=2))
        (self.out / f"{self.name}.md").write_text(self.markdown())

    def markdown(self) -> str:
        head = f"{self.meta.get('title', '')}\n\n" + " | ".join(self.COLUMNS) + "\n" + "|".join(
            "---" for _ in self.COLUMNS) + "\n"
        return head + "\n".join(" | ".join(_cell(r.get(c)) for c in self.COLUMNS) for r in self.rows) + "\n"


def with_ratio(row: dict, cfg: Config, rows: list[dict]) -> dict:
    """The row with "x.xx of <baseline>" added to its note when the baseline ran."""
    base = next((r for r in rows if r["config"] == cfg.baseline and r.get("median_step_ms")), None)
    if base and row.get("median_step_ms"):
        ratio = f"{row['median_step_ms'] / base['median_step_ms']:.2f}x {cfg.baseline}"
        row["note"] = "; ".join(filter(None, [ratio, row.get("note")]))
    return row


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value).replace("|", "/")


def run_config(cfg: Config, model: BenchModel, samples: list[dict], size: Size, weights_gib: float,
               profile_out: Path | None = None) -> dict:
    """One row; with `profile_out` (engine configs), two more steps profiled into that folder."""
    saved = {k: os.environ.get(k) for k in (cfg.env or {})}
    os.environ.update(cfg.env or {})
    device = next(model.decoder.parameters()).device
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    from train_overhead import lycoris_body

    try:
        profiler = StepProfiler(first=size.warmup + size.steps + 1) if profile_out and cfg.loop == "engine" else None
        with lycoris_body() if cfg.lycoris_forward else contextlib.nullcontext():
            if cfg.loop == "engine":
                result = engine_run(model, samples, cfg.changes, size, profiler)
            else:
                result = hand_run(model, samples, cfg.changes, size)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    if profiler and profile_out:
        summary = profiler.write(profile_out / f"profile_{slug(cfg.name)}.txt", cfg.name)
        result["note"] = "; ".join(filter(None, [result["note"], summary]))
    batch = cfg.changes.get("batch_size", 1)
    result["samples_per_s"] = batch / (result["median_step_ms"] / 1e3)
    if device.type == "cuda":
        result["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        result["over_weights_gib"] = result["peak_gib"] - weights_gib
    return {"config": cfg.name, **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for gpu_train.json/.md and gpu_preprocess.json/.md")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on the CPU (tries the script)")
    parser.add_argument("--budget", type=float, help="seconds for everything (default 330; tiny 100)")
    parser.add_argument("--steps", type=int, help="measured steps per config (default 10; tiny 3)")
    parser.add_argument("--no-preprocess", action="store_true")
    parser.add_argument("--only", metavar="SUBSTR[,SUBSTR]", action="append", default=[],
                        help="run only the configs whose names contain one of these, or have exactly that name "
                             "(plus the configs they need); repeatable")
    parser.add_argument("--profile", action="append", default=[], metavar="SUBSTR",
                        help="profile two steps after the measured ones of the engine configs whose names "
                             "contain this (or have exactly this name), into OUT/profile_<config>.txt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    deadline = started + (args.budget or (100 if args.tiny else 330))
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    size = Size(frames=48 if args.tiny else 1500, condition=12 if args.tiny else 600, warmup=2 if args.tiny else 3,
                steps=args.steps or (3 if args.tiny else 10), tiny=args.tiny)
    out = Path(args.out)
    if args.tiny:  # Inductor's C++ code generation takes minutes on a small CPU: trace only
        from daemon.train import compile as compile_module

        compile_module.compile_options = lambda: {"backend": "aot_eager"}
    model = build_model(args.tiny, device, dtype)
    weights_gib = sum(p.numel() * p.element_size() for p in model.decoder.parameters()) / 2**30
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    meta = {"title": f"Training, {'tiny' if args.tiny else 'full-size'} DiT on {gpu}", "gpu": gpu,
            "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "decoder_weights_gib": weights_gib,
            "frames": size.frames, "condition": size.condition, "measured_steps": size.steps}
    table = Table(out, meta)
    print(f"{meta['title']}: decoder {weights_gib:.2f} GiB, {size.frames} frames, condition {size.condition}, "
          f"budget {deadline - started:.0f} s\n" + " | ".join(Table.COLUMNS), flush=True)
    samples = make_samples(model, size)
    profiled = matching(plan(args.tiny), args.profile)
    for cfg in select(plan(args.tiny), args.only):
        if cfg.loop == "preprocess":
            if args.no_preprocess or time.monotonic() + cfg.estimate_s > deadline:
                print("preprocessing skipped (--no-preprocess or the time budget)", flush=True)
            else:
                run_preprocess(out, args.tiny, deadline)
            continue
        if time.monotonic() + cfg.estimate_s > deadline:
            table.add({"config": cfg.name, "note": f"skipped: {deadline - time.monotonic():.0f} s of the budget "
                                                   f"left, about {cfg.estimate_s:.0f} s needed"})
            continue
        try:
            row = run_config(cfg, model, samples, size, weights_gib, out if cfg.name in profiled else None)
            table.add(with_ratio(row, cfg, table.rows))
        except Exception as err:  # one config's failure is a row, not the end of the benchmark
            logging.exception("config %s failed", cfg.name)
            table.add({"config": cfg.name, "note": f"failed: {type(err).__name__}: {str(err)[:300]}"})
    print(f"\n{table.markdown()}\nwritten to {out} in {time.monotonic() - started:.0f} s", flush=True)
    return 0


def run_preprocess(out: Path, tiny: bool, deadline: float) -> None:
    from gpu_preprocess import preprocess_benchmark

    try:
        preprocess_benchmark(out, tiny, deadline)
    except Exception:  # the training table stands on its own
        logging.exception("the preprocessing benchmark failed")


if __name__ == "__main__":
    sys.exit(main())
