#!/usr/bin/env python3
"""GPU-only paths of the studio that CPU tests cannot reach, checked on the demo model (issue 14):

1. bf16-true: a float32 decoder comes back exactly as it was, on its device (the restore); and a
   run stopped at a checkpoint and resumed ends where the uninterrupted run ends;
2. 8-bit AdamW: runs through the engine, and its state is 8-bit;
3. compile fallback: a compile that fails on purpose steps down to eager, the run completes.

(Compiling for real, at full size, is bench/gpu_train.py's "compiled" rows.)

    python3 bench/gpu_smoke.py --out OUT      # OUT/gpu_smoke.json; one line per check
    python3 bench/gpu_smoke.py --tiny ...     # the same on the CPU (8-bit and bf16 checks skip)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon.train import compile as compile_module  # noqa: E402
from daemon.train.loop import train  # noqa: E402
from daemon.train.synthetic import synthetic_samples  # noqa: E402
from shared.train_settings import TrainSettings  # noqa: E402

BASE = dict(rank=4, alpha=8, dropout=0.0, epochs=2, batch_size=2, gradient_accumulation=1, warmup_steps=0,
            scheduler="constant", learning_rate=1e-3, save_every_epochs=1, keep_last=0, best_warmup_epochs=0,
            crop_frames=0, seed=3, compile="off")


class Events:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def event(self, type: str, **data) -> None:
        self.events.append((type, data))

    def metric(self, **values) -> None:
        pass

    def progress(self, done, total, message="", **extra) -> None:
        pass

    def take_action(self, name: str) -> bool:
        return False

    def of(self, type: str) -> list[dict]:
        return [d for t, d in self.events if t == type]


def load_demo(root: Path, device: torch.device, dtype: torch.dtype):
    from transformers import AutoModel

    from daemon.models.demo_checkpoint import ensure_demo_checkpoint

    folder = ensure_demo_checkpoint(root)["dit"]
    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True, dtype=dtype)
    return model.to(device).eval().requires_grad_(False)


def run(model_fn, samples, run_dir: Path, **changes) -> tuple[dict, Events]:
    events = Events()
    result = train(TrainSettings.from_dict({**BASE, **changes}), model_fn(), samples, run_dir, events)
    return result, events


def check_bf16_resume(model_fn, samples, tmp: Path) -> str:
    whole, _ = run(model_fn, samples, tmp / "whole", precision="bf16-true")
    run(model_fn, samples, tmp / "first", precision="bf16-true", epochs=1)
    resumed, _ = run(model_fn, samples, tmp / "resumed", precision="bf16-true",
                     resume_from=str(tmp / "first" / "checkpoints" / "epoch_1"))
    same = abs(resumed["last_loss"] - whole["last_loss"]) <= 1e-3 * max(abs(whole["last_loss"]), 1e-6)
    if not same:
        raise AssertionError(f"resumed last loss {resumed['last_loss']} != uninterrupted {whole['last_loss']}")
    return f"resumed run ends at loss {resumed['last_loss']:.5f} = uninterrupted {whole['last_loss']:.5f}"


def check_bf16_restore(model_fn, samples, tmp: Path) -> str:
    model = model_fn()
    before = {n: p.detach().clone() for n, p in model.decoder.state_dict().items()}
    result = train(TrainSettings.from_dict({**BASE, "precision": "bf16-true", "epochs": 1, "save_every_epochs": 0}),
                   model, samples, tmp / "restore", Events())
    after = model.decoder.state_dict()
    changed = [n for n, t in before.items() if after[n].dtype != t.dtype or after[n].device != t.device
               or not torch.equal(after[n], t)]
    if changed:
        raise AssertionError(f"{len(changed)} decoder tensors not restored, e.g. {changed[:3]}")
    return f"{len(before)} decoder tensors back in float32 on {next(iter(after.values())).device}, " \
           f"bit-exact; run loss {result['last_loss']:.4f}"


def check_adamw8bit(model_fn, samples, tmp: Path, device: torch.device) -> str:
    result, _ = run(model_fn, samples, tmp / "8bit", optimizer="adamw8bit", epochs=1, save_every_epochs=0)
    import bitsandbytes as bnb

    param = torch.nn.Parameter(torch.randn(4096, 4, device=device))
    optimizer = bnb.optim.AdamW8bit([param], lr=1e-3)
    param.grad = torch.randn_like(param)
    optimizer.step()
    dtypes = sorted({str(v.dtype) for v in optimizer.state[param].values() if torch.is_tensor(v)})
    if "torch.uint8" not in dtypes:
        raise AssertionError(f"8-bit AdamW state dtypes {dtypes}")
    return f"{result['global_step']} engine steps, last loss {result['last_loss']:.4f}; state {dtypes}"


def check_fallback(model_fn, samples, tmp: Path) -> str:
    def failing(gm, example_inputs):
        raise RuntimeError("injected")

    original = compile_module.compile_options
    compile_module.compile_options = lambda: {"backend": failing}
    try:
        result, events = run(model_fn, samples, tmp / "fallback", compile="on", epochs=1, save_every_epochs=0)
    finally:
        compile_module.compile_options = original
    stages = [e["stage"] for e in events.of("compile_fallback")]
    if result["outcome"] != "completed" or stages[-1:] != ["eager"]:
        raise AssertionError(f"outcome {result['outcome']}, fallbacks {stages}")
    return f"completed eagerly after fallbacks {stages}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--tiny", action="store_true", help="on the CPU (skips the CUDA-only checks)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "torch": torch.__version__, "checks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        samples = synthetic_samples(load_demo(tmp_path / "ckpt", torch.device("cpu"), torch.float32),
                                    [24, 31, 40, 24, 36, 29, 40, 32])
        checks = {
            "bf16-true restore": (lambda: check_bf16_restore(
                lambda: load_demo(tmp_path / "ckpt", device, torch.float32), samples, tmp_path), True),
            "bf16-true resume": (lambda: check_bf16_resume(
                lambda: load_demo(tmp_path / "ckpt", device, torch.bfloat16), samples, tmp_path), True),
            "8-bit AdamW": (lambda: check_adamw8bit(
                lambda: load_demo(tmp_path / "ckpt", device, torch.bfloat16), samples, tmp_path, device), True),
            "compile fallback": (lambda: check_fallback(
                lambda: load_demo(tmp_path / "ckpt", device, torch.float32), samples, tmp_path), False),
        }
        for name, (check, cuda_only) in checks.items():
            if cuda_only and device.type != "cuda":
                outcome = "skipped (needs CUDA)"
            else:
                try:
                    outcome = f"ok: {check()}"
                except Exception as err:  # each check reports; the next still runs
                    logging.exception("check %s failed", name)
                    outcome = f"FAILED: {type(err).__name__}: {str(err)[:400]}"
            report["checks"][name] = outcome
            print(f"smoke | {name} | {outcome}", flush=True)
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "gpu_smoke.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
