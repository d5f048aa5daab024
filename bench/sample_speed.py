"""Sampling speed: seconds to generate a 30 s clip with the demo model (CPU by default), in one
process, with the stages measured apart (targets in brackets):

1. seconds per 30 s clip through the renderer (conditions, 8 turbo steps, VAE decode, flac,
   spectrogram), median of --repeats, and the real-time factor (clip seconds / wall seconds)
2. renderer / bare stages (the same conditions, denoise and decode called directly)      [<= 1.25]
   what the renderer adds around the model calls: files, spectrogram, events, RNG bookkeeping

    .venv/bin/python bench/sample_speed.py [--seconds 30] [--repeats 3] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.models.demo_checkpoint import ensure_demo_checkpoint  # noqa: E402
from daemon.models.manager import ModelManager  # noqa: E402
from daemon.preprocess.models import PreprocessModels  # noqa: E402
from daemon.sample.audio_out import decode_latents  # noqa: E402
from daemon.sample.conditions import ClipPrompt, build_condition  # noqa: E402
from daemon.sample.denoise import denoise, initial_noise  # noqa: E402
from daemon.sample.render import ClipRenderer, SamplingOptions  # noqa: E402
from daemon.sample.schedules import timesteps_for  # noqa: E402
from shared.config import DaemonSettings  # noqa: E402


class Quiet:
    def event(self, type, **data):
        pass


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def bare_stages(manager: ModelManager, prompt: ClipPrompt) -> dict[str, float]:
    """The model calls alone: conditions, denoising, VAE decode."""
    models = PreprocessModels(manager)
    t_cond, condition = timed(lambda: build_condition(models, prompt))
    noise = initial_noise(1, prompt.frames)
    steps = timesteps_for(manager.selected.is_turbo)
    t_denoise, latents = timed(lambda: denoise(manager.get("decoder"), condition, noise, steps,
                                               manager.get("dit").null_condition_emb, 1.0))
    with models.vae() as vae:
        t_decode, _ = timed(lambda: decode_latents(vae, latents))
    return {"conditions": t_cond, "denoise": t_denoise, "decode": t_decode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    demo = Path(os.environ.get("ACESTEP_DEMO_ROOT") or ROOT / "demo_assets")
    ensure_demo_checkpoint(demo / "checkpoints")
    with tempfile.TemporaryDirectory() as tmp:
        manager = ModelManager(DaemonSettings(checkpoint_roots=[str(demo / "checkpoints")], demo_root="",
                                              device=args.device), home=Path(tmp))
        manager.select("acestep-v15-demo")
        load, _ = timed(lambda: manager.load(["dit", "vae", "text_encoder", "silence_latent"]))
        prompt = ClipPrompt("sks, warm lofi beat with soft keys", bpm=90, key="A minor", timesignature="4",
                            seconds=args.seconds)
        renderer = ClipRenderer(manager, Quiet())
        renderer.render([ClipPrompt(prompt.caption, seconds=2)], [1.0], SamplingOptions(), Path(tmp) / "warm")
        rendered, bare = [], []
        for i in range(args.repeats):
            seconds, _ = timed(lambda i=i: renderer.render([prompt], [1.0], SamplingOptions(seed=i),
                                                           Path(tmp) / f"r{i}"))
            rendered.append(seconds)
            bare.append(bare_stages(manager, prompt))
    median = statistics.median(rendered)
    stages = {k: round(statistics.median(b[k] for b in bare), 3) for k in bare[0]}
    report = {
        "device": args.device, "clip_seconds": prompt.frames / 25, "load_seconds": round(load, 2),
        "seconds_per_clip": round(median, 3), "real_time_factor": round(prompt.frames / 25 / median, 2),
        "bare_stages": stages, "renderer_over_bare": round(median / sum(stages.values()), 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
