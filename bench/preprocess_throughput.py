#!/usr/bin/env python3
"""Preprocessing throughput: the `preprocess` job's code path versus a plain serial loop.

Both run in this process on the demo checkpoint with the same models already loaded by the model
manager, on the same clips (44.1 kHz stereo FLAC, so both decode and resample). The baseline is
what a straightforward script does: `librosa.load` each file, encode it under `torch.no_grad`,
text encoder, lyric embedding, condition encoder, `torch.save` the dict; one file after another.
The job path is `daemon.preprocess.pipeline.run_preprocess` with a real JobContext (prefetching
decode threads, inference mode, in-place Snake, reused CPU buffers, atomic safetensors writes).

    .venv/bin/python bench/preprocess_throughput.py                 # 40 clips of 10 s (slow on CPU)
    .venv/bin/python bench/preprocess_throughput.py --clips 8 --seconds 5

Target: ratio >= 1.5 on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from daemon.events import EventBus  # noqa: E402
from daemon.jobs import Job, JobContext  # noqa: E402
from daemon.models.demo_checkpoint import DIT_NAME, ensure_demo_checkpoint  # noqa: E402
from daemon.models.manager import ModelManager  # noqa: E402
from daemon.registry import Services  # noqa: E402
from shared.config import DaemonSettings  # noqa: E402
from shared.dataset import Dataset, Sample, load_dataset, save_dataset  # noqa: E402
from shared.preprocess_settings import PreprocessSettings  # noqa: E402
from shared.prompt import sample_prompts  # noqa: E402

SOURCE_RATE = 44_100


def write_clips(folder: Path, count: int, seconds: float) -> Path:
    """`count` FLAC clips (chord + noise, 44.1 kHz stereo) and a labelled dataset.json."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SOURCE_RATE)) / SOURCE_RATE
    samples = []
    for i in range(count):
        base = 110 * 2 ** (i % 12 / 12)
        tone = sum(np.sin(2 * np.pi * base * r * t) for r in (1, 1.25, 1.5)) * 0.15
        left, right = tone + 0.02 * rng.standard_normal(t.shape), tone + 0.02 * rng.standard_normal(t.shape)
        name = f"clip{i:03d}.flac"
        sf.write(str(folder / name), np.stack([left, right], axis=1).astype(np.float32), SOURCE_RATE)
        samples.append(Sample(audio=name, caption=f"synth chord {i}", bpm=100 + i, keyscale="A minor",
                              timesignature="4", language="en", lyrics="la la la\nhey hey"))
    path = folder / "dataset.json"
    save_dataset(Dataset(root=folder, samples=samples), path)
    return path


def baseline(dataset_file: Path, out: Path, manager: ModelManager) -> int:
    """The plain serial loop; returns how many files it wrote."""
    import librosa

    dataset = load_dataset(dataset_file)
    vae, text_model, tokenizer = manager.get("vae"), manager.get("text_encoder"), manager.get("tokenizer")
    encoder, silence = manager.get("encoder"), manager.get("silence_latent")[0]
    out.mkdir(parents=True, exist_ok=True)
    for sample in dataset.samples:
        audio, _ = librosa.load(str(dataset.audio_path(sample)), sr=48_000, mono=False)
        audio = np.stack([audio, audio]) if audio.ndim == 1 else audio[:2]
        text, lyrics = sample_prompts(dataset, sample, audio.shape[1] / 48_000)
        with torch.no_grad():
            latents = vae.encode(torch.from_numpy(audio)[None]).latent_dist.sample()[0].T
            tokens = tokenizer(text, max_length=256, truncation=True, return_tensors="pt")
            text_hidden = text_model(**tokens).last_hidden_state
            lyric_tokens = tokenizer(lyrics, max_length=2048, truncation=True, return_tensors="pt")
            lyric_hidden = text_model.get_input_embeddings()(lyric_tokens["input_ids"])
            hidden, mask = encoder(text_hidden_states=text_hidden, text_attention_mask=tokens["attention_mask"],
                                   lyric_hidden_states=lyric_hidden,
                                   lyric_attention_mask=lyric_tokens["attention_mask"],
                                   refer_audio_acoustic_hidden_states_packed=torch.zeros(1, 1, 64),
                                   refer_audio_order_mask=torch.zeros(1, dtype=torch.long))
        frames = latents.shape[0]
        context = torch.cat([silence[:frames], torch.ones(frames, 64)], dim=1)
        torch.save({"target_latents": latents, "attention_mask": torch.ones(frames),
                    "encoder_hidden_states": hidden[0], "encoder_attention_mask": mask[0],
                    "context_latents": context, "metadata": {"filename": sample.filename}},
                   out / f"{Path(sample.audio).stem}.pt")
    return len(dataset.samples)


def job_path(dataset_file: Path, out: Path, manager: ModelManager, run_dir: Path, workers: int) -> dict:
    """The preprocess job's own code, in this process, with a real JobContext."""
    from daemon.preprocess.pipeline import run_preprocess

    settings = PreprocessSettings(dataset=str(dataset_file), output_dir=str(out), workers=workers)
    run_dir.mkdir(parents=True, exist_ok=True)
    job = Job(run_dir.name, "preprocess", settings, run_dir)
    return run_preprocess(JobContext(job, EventBus("bench"), Services(models=manager)), settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--demo-root", help="reuse a demo checkpoint folder (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.demo_root or tmp)
        ensure_demo_checkpoint(root / "checkpoints")
        manager = ModelManager(DaemonSettings(checkpoint_roots=[str(root / "checkpoints")]), home=Path(tmp))
        manager.select(DIT_NAME)
        for name in ("vae", "text_encoder", "encoder", "silence_latent"):
            manager.get(name)
        warm = write_clips(Path(tmp) / "warm", 1, 1.0)
        baseline(warm, Path(tmp) / "warm-base", manager)
        job_path(warm, Path(tmp) / "warm-job", manager, Path(tmp) / "run-warm", args.workers)

        dataset_file = write_clips(Path(tmp) / "clips", args.clips, args.seconds)
        started = time.perf_counter()
        written = baseline(dataset_file, Path(tmp) / "baseline", manager)
        base_s = time.perf_counter() - started
        started = time.perf_counter()
        result = job_path(dataset_file, Path(tmp) / "job", manager, Path(tmp) / "run", args.workers)
        job_s = time.perf_counter() - started
    assert result["written"] == written == args.clips, result
    base_rate, job_rate = written / base_s, result["written"] / job_s
    print(f"{args.clips} clips of {args.seconds:g} s, 44.1 kHz FLAC, demo model on {manager.device}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, {args.workers} decode workers")
    print(f"baseline serial loop (librosa, no_grad): {base_s:8.1f} s  {base_rate:.3f} files/s")
    print(f"preprocess job path:                     {job_s:8.1f} s  {job_rate:.3f} files/s")
    print(f"ratio job/baseline: {job_rate / base_rate:.2f}x  (target >= 1.5x: "
          f"{'met' if job_rate / base_rate >= 1.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
