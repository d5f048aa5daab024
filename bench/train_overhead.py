"""Training engine overhead, measured in one process against baselines (targets in brackets):

1. steady-state step time of the engine (daemon.train.loop.train) / a bare hand-written loop with the
   same model, adapter, data, optimizer and clipping                                   [<= 1.10]
2. LoKr / LoRA engine step time at comparable trainable parameter counts               [<= 1.5],
   and the same with LoKr layers on LyCORIS's own forward instead of the studio's structured one

Steady state: no checkpoint or best-model saves during the measured steps (those are per epoch or
per N steps, not per step).

Runs on the demo DiT (`--model demo`) or a mid-sized DiT of the same code (`--model medium`, the
default: the tiny demo's steps are so short that fixed per-step costs dominate any ratio).

    .venv/bin/python bench/train_overhead.py [--model demo|medium] [--steps 40]
    .venv/bin/python bench/train_overhead.py --lokr-only --lokr 8:16 --lokr 4:64   # LoKr shapes only
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.train import batching  # noqa: E402
from daemon.train.adapters import build_adapter  # noqa: E402
from daemon.train.loop import train  # noqa: E402
from daemon.train.synthetic import synthetic_samples  # noqa: E402
from daemon.train.timesteps import TimestepSampler  # noqa: E402
from shared.train_settings import TrainSettings  # noqa: E402

MEDIUM = dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=4, num_attention_heads=8,
              num_key_value_heads=4, head_dim=64)


class QuietReporter:
    def event(self, type, **data):
        pass

    def metric(self, **values):
        pass

    def progress(self, done, total, message="", **extra):
        pass

    def take_action(self, name):
        return False


def load_model(kind: str):
    """The demo DiT through the real loader, or a medium DiT built from the same code (seeded)."""
    from transformers import AutoModel

    from daemon.models.demo_checkpoint import demo_config, ensure_demo_checkpoint

    root = Path(os.environ.get("ACESTEP_DEMO_ROOT") or ROOT / "demo_assets") / "checkpoints"
    folder = ensure_demo_checkpoint(root)["dit"]
    if kind == "demo":
        model = AutoModel.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
    else:
        from daemon.models.acestep_demo.modeling_acestep_v15_turbo import AceStepConditionGenerationModel

        torch.manual_seed(0)
        config = demo_config(**MEDIUM)  # layer_types follows num_hidden_layers from the start
        model = AceStepConditionGenerationModel(config)
    return model.eval().requires_grad_(False)


def engine_step_times(settings: TrainSettings, model, samples, warmup: int) -> tuple[list[tuple], int]:
    """(wall, cpu) seconds between consecutive steps of the engine (everything per step included)."""
    stamps: list[tuple[float, float]] = []
    trainable = {}

    def should_stop(step: int) -> bool:
        stamps.append((time.perf_counter(), time.process_time()))
        return False

    class Reporter(QuietReporter):
        def event(self, type, **data):
            if type == "train_preflight":
                trainable["n"] = data["trainable_parameters"]

    with tempfile.TemporaryDirectory() as run_dir:
        train(settings, model, samples, run_dir, Reporter(), should_stop=should_stop)
    gaps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(stamps, stamps[1:])]
    return gaps[warmup:], trainable["n"]


def bare_step_times(settings: TrainSettings, model, samples, steps: int, warmup: int) -> list[tuple]:
    """The same training written by hand: PEFT adapter, AdamW, clipping, no engine around it."""
    torch.manual_seed(settings.seed)
    adapter = build_adapter(settings)
    decoder = adapter.inject(model.decoder)
    decoder.train()
    params = [p for _, p in adapter.trainable_parameters()]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    sampler = TimestepSampler("model")
    null = model.null_condition_emb.detach()
    order = list(range(len(samples)))
    times = []
    for step in range(steps + warmup):
        started, cpu_started = time.perf_counter(), time.process_time()
        chosen = [order[(step * settings.batch_size + i) % len(order)] for i in range(settings.batch_size)]
        batch = batching.collate([samples[i] for i in chosen])
        t = sampler.sample(batch.size)
        noise = torch.randn(batch.target_latents.shape)
        drop = torch.rand(batch.size) < settings.cfg_dropout
        condition = torch.where(drop.view(-1, 1, 1), null.expand_as(batch.encoder_hidden_states),
                                batch.encoder_hidden_states)
        x_t = t.view(-1, 1, 1) * noise + (1 - t.view(-1, 1, 1)) * batch.target_latents
        pred = decoder(hidden_states=x_t, timestep=t, timestep_r=t, attention_mask=batch.attention_mask,
                       encoder_hidden_states=condition, encoder_attention_mask=batch.encoder_attention_mask,
                       context_latents=batch.context_latents)[0]
        loss = ((pred.float() - (noise - batch.target_latents)) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())
        times.append((time.perf_counter() - started, time.process_time() - cpu_started))
    adapter.remove()
    return times[warmup:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("demo", "medium"), default="medium")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lokr", action="append", default=[], metavar="FACTOR:DIM",
                        help="LoKr shape(s) to compare (default: the one closest to LoRA's trainable count)")
    parser.add_argument("--lokr-only", action="store_true", help="skip the engine / bare loop comparison")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    model = load_model(args.model)
    samples = synthetic_samples(model, [args.frames] * 8)
    warmup = 5
    common = dict(batch_size=1, gradient_accumulation=1, scheduler="constant", warmup_steps=0, dropout=0.0,
                  save_every_epochs=0, keep_last=0, best_warmup_epochs=10**6, crop_frames=0, epochs=1000,
                  max_steps=args.steps + warmup + 1, learning_rate=1e-4, seed=0)
    lora = TrainSettings.from_dict({**common, "adapter_type": "lora", "rank": 16, "alpha": 16})
    print(f"model {args.model}: {sum(p.numel() for p in model.decoder.parameters()):,} decoder parameters, "
          f"{args.frames} frames per sample, batch 1, {args.steps} measured steps, {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads", flush=True)

    # Rounds interleave the two so load from other processes hits both alike; the best round (and
    # the fastest step) is what a quiet machine shows.
    if not args.lokr_only:
        engine, bare = [], []
        for _ in range(args.rounds):
            bare += [bare_step_times(lora, model, samples, args.steps, warmup)]
            times, lora_params = engine_step_times(lora, model, samples, warmup)
            engine += [times]
        report("engine / bare loop (LoRA)", engine, bare, 1.10)

    shapes = [tuple(int(v) for v in text.split(":")) for text in args.lokr] or [comparable_lokr(model, lora)[:2]]
    for factor, lokr_dim in shapes:
        lokr = TrainSettings.from_dict({**common, "adapter_type": "lokr", "lokr_linear_dim": lokr_dim,
                                        "lokr_linear_alpha": lokr_dim, "lokr_factor": factor})
        lora_runs, lokr_runs, body_runs = [], [], []
        for _ in range(args.rounds):
            times, lora_params = engine_step_times(lora, model, samples, warmup)
            lora_runs += [times]
            times, lokr_params = engine_step_times(lokr, model, samples, warmup)
            lokr_runs += [times]
            with lycoris_body():
                body_runs += [engine_step_times(lokr, model, samples, warmup)[0]]
        print(f"LoRA rank 16: {lora_params:,} trainable parameters; LoKr factor {factor}, linear_dim {lokr_dim}: "
              f"{lokr_params:,} trainable parameters", flush=True)
        report("LoKr / LoRA engine step", lokr_runs, lora_runs, 1.5)
        report("LoKr with LyCORIS's own forward / LoRA", body_runs, lora_runs, 1.5)
    return 0


def report(name: str, runs: list[list[tuple]], baseline: list[list[tuple]], target: float) -> None:
    """The best round's median wall time per step, the fastest step, and the best round's median CPU
    time per step (the steadiest of the three on a loaded machine), of each side."""
    def best_median(rs, i=0):
        return min(statistics.median(step[i] for step in r) for r in rs)

    def fastest(rs):
        return min(w for r in rs for w, _ in r)

    a, b = best_median(runs), best_median(baseline)
    fa, fb = fastest(runs), fastest(baseline)
    ca, cb = best_median(runs, 1), best_median(baseline, 1)
    print(f"{name}: median step {a * 1e3:.1f} / {b * 1e3:.1f} ms = {a / b:.3f}; fastest step "
          f"{fa * 1e3:.1f} / {fb * 1e3:.1f} ms = {fa / fb:.3f}; CPU time per step {ca * 1e3:.1f} / {cb * 1e3:.1f} ms "
          f"= {ca / cb:.3f} (target <= {target})", flush=True)


@contextlib.contextmanager
def lycoris_body():
    """LoKr layers keep LyCORIS's own bypass forward (what the studio ran before kron.py)."""
    from daemon.train.adapters import lokr

    saved = lokr.use_structured_forward
    lokr.use_structured_forward = lambda modules: 0
    try:
        yield
    finally:
        lokr.use_structured_forward = saved


def comparable_lokr(model, lora: TrainSettings) -> tuple[int, int, int]:
    """(factor, linear_dim, trainable count) of the LoKr whose trainable count is closest to LoRA's."""
    adapter = build_adapter(lora)
    adapter.inject(model.decoder)
    lora_params = sum(p.numel() for _, p in adapter.trainable_parameters())
    adapter.remove()
    return closest_lokr(model, lora_params)


def closest_lokr(model, lora_params: int) -> tuple[int, int, int]:
    """(factor, linear_dim, trainable count) of the LoKr whose trainable count is closest to LoRA's."""
    from daemon.train.adapters import target_suffixes
    from daemon.train.adapters.lokr import LycorisAdapter

    best: tuple[int, int, int] | None = None
    for factor in (4, 8, 16, -1):
        for dim in (4, 8, 16, 24, 32, 48, 64, 96, 128):
            adapter = LycorisAdapter("lokr", dim, dim, factor, False, False, 0.0, target_suffixes("both", False))
            adapter.inject(model.decoder)
            count = sum(p.numel() for _, p in adapter.trainable_parameters())
            adapter.remove()
            if best is None or abs(count - lora_params) < abs(best[2] - lora_params):
                best = (factor, dim, count)
    assert best is not None
    return best


if __name__ == "__main__":
    sys.exit(main())
