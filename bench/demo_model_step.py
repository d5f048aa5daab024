"""The demo DiT's LoRA training step, measured in one process against a baseline (target in brackets):

1. gradient-checkpointed LoRA step / plain LoRA step, one 10 s clip (250 frames), one thread
                                                                                     [<= 2.0]

The checkpointed step recomputes each layer's forward during backward, so it costs about one more
forward pass; more than that means the checkpointing wraps too much. The absolute times are printed
too (measured here, one core of a 2-core machine: 21 / 13 ms = 1.6).

    .venv/bin/python bench/demo_model_step.py [--steps 5] [--rounds 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
FRAMES = 250


def load_demo():
    from transformers import AutoModel

    from daemon.models.demo_checkpoint import ensure_demo_checkpoint

    root = Path(os.environ.get("ACESTEP_DEMO_ROOT") or ROOT / "demo_assets") / "checkpoints"
    folder = ensure_demo_checkpoint(root)["dit"]
    return AutoModel.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32).eval()


def step_times(model, checkpointing: bool, steps: int) -> list[float]:
    """Wall seconds of `steps` LoRA steps (forward, backward, AdamW) after one warm-up step."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    hidden = model.config.hidden_size
    states, mask = torch.randn(1, 40, hidden), torch.ones(1, 40, dtype=torch.bool)
    wrapped = get_peft_model(model.decoder, LoraConfig(r=8, lora_alpha=8, target_modules=ATTENTION))
    decoder = wrapped.base_model.model
    if checkpointing:
        decoder.gradient_checkpointing_enable()
    wrapped.train()
    optimizer = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-3)
    t = torch.full((1,), 0.5)
    times = []
    try:
        for _ in range(steps + 1):
            started = time.perf_counter()
            velocity = decoder(hidden_states=torch.randn(1, FRAMES, 64), timestep=t, timestep_r=t,
                               attention_mask=torch.ones(1, FRAMES), encoder_hidden_states=states,
                               encoder_attention_mask=mask, context_latents=torch.randn(1, FRAMES, 128))[0]
            torch.nn.functional.mse_loss(velocity, torch.randn_like(velocity)).backward()
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - started)
    finally:
        if checkpointing:
            decoder.gradient_checkpointing_disable()
        wrapped.unload()
        model.eval()
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    model = load_demo()
    plain, checkpointed = [], []
    for _ in range(args.rounds):  # interleaved, so load from other processes hits both alike
        plain.append(statistics.median(step_times(model, False, args.steps)))
        checkpointed.append(statistics.median(step_times(model, True, args.steps)))
    a, b = min(checkpointed), min(plain)
    print(f"demo DiT, {FRAMES} frames, LoRA r 8, 1 thread: checkpointed / plain step "
          f"{a * 1e3:.0f} / {b * 1e3:.0f} ms = {a / b:.2f} (target <= 2.0)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
