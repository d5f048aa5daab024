"""Preprocessing at real size (issue 14), run by bench/gpu_train.py: an Oobleck VAE at ACE-Step's
config, a Qwen3 text encoder at hidden 1024 (28 layers) and the DiT's condition encoder at hidden
2048, all with random weights, written as a checkpoint folder and loaded by the model manager. 60 s
clips go through the `preprocess` job's own code: batched (4 clips of one length per VAE call)
against one by one, and two-pass mode with each pass's peak GPU memory.

Writes OUT/gpu_preprocess.json and .md after each row. `--tiny` (gpu_train.py's) uses the demo
checkpoint and 2 s clips on the CPU.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REAL_VAE = {"encoder_hidden_size": 128, "downsampling_ratios": [2, 4, 4, 6, 10],
            "channel_multiples": [1, 2, 4, 8, 16], "decoder_channels": 128, "decoder_input_channels": 64,
            "audio_channels": 2, "sampling_rate": 48000}
REAL_TEXT = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128)
REAL_ENCODER = dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=1, num_attention_heads=16,
                    num_key_value_heads=8, head_dim=128, text_hidden_dim=1024,
                    num_lyric_encoder_hidden_layers=8, num_timbre_encoder_hidden_layers=4)
COLUMNS = ("config", "files", "seconds", "files_per_s", "audio_s_per_s", "peak_gib", "note")


def write_real_checkpoint(root: Path, device: torch.device) -> Path:
    """DiT (real condition encoder; one decoder layer, unused here), VAE and text encoder folders."""
    from diffusers import AutoencoderOobleck
    from transformers import Qwen3Config, Qwen3Model

    from daemon.models.acestep_demo.modeling_acestep_v15_turbo import AceStepConditionGenerationModel
    from daemon.models.demo_checkpoint import CODE_FILES, SOURCE_DIR, demo_config
    from daemon.models.demo_text_encoder import build_tokenizer

    torch.manual_seed(0)
    with torch.device(device):
        vae = AutoencoderOobleck(**REAL_VAE).eval()
    vae.save_pretrained(root / "vae", safe_serialization=True)
    tokenizer = build_tokenizer()
    text_config = Qwen3Config(vocab_size=len(tokenizer), max_position_embeddings=4096, tie_word_embeddings=False,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                              bos_token_id=None, **REAL_TEXT)
    with torch.device(device):
        text = Qwen3Model(text_config).to(torch.bfloat16)
    text.save_pretrained(root / "Qwen3-Embedding-0.6B", safe_serialization=True)
    tokenizer.save_pretrained(root / "Qwen3-Embedding-0.6B")
    # One decoder layer (only the encoder runs here), but the encoder's 8 lyric layers index
    # layer_types too: list one type per encoder layer, alternating as the official default does.
    layer_types = [("sliding_attention", "full_attention")[i % 2] for i in range(8)]
    config = demo_config(layer_types=layer_types, **REAL_ENCODER)
    dit_dir = root / "acestep-v15-bench"
    with torch.device(device):
        dit = AceStepConditionGenerationModel(config).to(torch.bfloat16).eval()
    dit.save_pretrained(dit_dir, safe_serialization=True)
    for name in CODE_FILES:
        shutil.copyfile(SOURCE_DIR / name, dit_dir / name)
    torch.save(torch.zeros(1, 64, 15000), dit_dir / "silence_latent.pt")
    del vae, text, dit
    return dit_dir


def write_clips(folder: Path, count: int, seconds: float) -> Path:
    """`count` 48 kHz stereo WAV clips (a chord and noise) and their dataset.json."""
    from shared.dataset import Dataset, Sample, save_dataset

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 48_000)) / 48_000
    samples = []
    for i in range(count):
        tone = sum(np.sin(2 * np.pi * 110 * 2 ** (i / 12) * r * t) for r in (1, 1.25, 1.5)) * 0.15
        audio = np.stack([tone + 0.02 * rng.standard_normal(t.shape) for _ in range(2)], axis=1)
        sf.write(str(folder / f"clip{i:03d}.wav"), audio.astype(np.float32), 48_000)
        samples.append(Sample(audio=f"clip{i:03d}.wav", caption=f"synth chord {i}", bpm=100 + i,
                              keyscale="A minor", timesignature="4", language="en", lyrics="la la la\nhey hey"))
    save_dataset(Dataset(root=folder, samples=samples), folder / "dataset.json")
    return folder / "dataset.json"


def run_job(dataset: Path, out: Path, manager, run_dir: Path, **settings) -> tuple[dict, list[dict], float | None]:
    """The preprocess job's code in this process: its result, its memory events and the peak GPU
    memory (MB) at the end; the peak counter is reset when the pass-1 models are freed, so in
    two-pass mode the end's peak is pass 2's."""
    from daemon.events import EventBus
    from daemon.jobs import Job, JobContext
    from daemon.preprocess.pipeline import run_preprocess
    from daemon.registry import Services
    from shared.preprocess_settings import PreprocessSettings

    memory: list[dict] = []

    class Context(JobContext):
        def event(self, type: str, **data):
            if type == "memory":
                memory.append(data)
                if data.get("stage") == "pass-1 models freed" and torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()
            return super().event(type, **data)

    preprocess = PreprocessSettings(dataset=str(dataset), output_dir=str(out), **settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    job = Job(run_dir.name, "preprocess", preprocess, run_dir)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = run_preprocess(Context(job, EventBus("bench"), Services(models=manager)), preprocess)
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return result, memory, peak


def preprocess_benchmark(out: Path, tiny: bool, deadline: float) -> None:
    from daemon.models.demo_checkpoint import DIT_NAME, ensure_demo_checkpoint
    from daemon.models.manager import ModelManager
    from shared.config import DaemonSettings

    rows: list[dict] = []
    clips, seconds = (3, 2.0) if tiny else (16, 60.0)
    device = torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        started = time.perf_counter()
        if tiny:
            ensure_demo_checkpoint(tmp_path / "checkpoints")
            name = DIT_NAME
        else:
            name = write_real_checkpoint(tmp_path / "checkpoints", device).name
        config = DaemonSettings(checkpoint_roots=[str(tmp_path / "checkpoints")],
                                device="cpu" if tiny else "auto", offload=False)
        manager = ModelManager(config, home=tmp_path / "home")
        manager.select(name)
        for component in ("vae", "text_encoder", "encoder", "silence_latent"):
            manager.get(component)
        setup_s = time.perf_counter() - started
        dataset = write_clips(tmp_path / "clips", clips, seconds)
        warm = write_clips(tmp_path / "warm", 1, min(seconds, 5.0))
        run_job(warm, tmp_path / "warm-out", manager, tmp_path / "runs" / "warm")  # cuDNN and kernel warm-up
        runs = [("job path, batched (4 per VAE call)", {}), ("job path, one by one", {"batch_size": 1}),
                ("job path, two passes", {"two_pass": True})]
        for index, (label, settings) in enumerate(runs):
            if time.monotonic() > deadline:
                rows.append({"config": label, "note": "skipped: time budget spent"})
                _write(out, rows, tiny, device)
                continue
            begun = time.perf_counter()
            result, memory, peak = run_job(dataset, tmp_path / f"out{index}", manager, tmp_path / "runs" / str(index),
                                     **settings)
            elapsed = time.perf_counter() - begun
            peaks = [p for p in [peak] + [m.get("gpu_peak_mb") for m in memory] if p is not None]
            note = _pass_peaks(memory, peak) if settings.get("two_pass") else ""
            if index == 0:
                note = f"models written and loaded in {setup_s:.0f} s"
            rows.append({"config": label, "files": result["written"], "seconds": elapsed,
                         "files_per_s": result["written"] / elapsed,
                         "audio_s_per_s": result["written"] * seconds / elapsed,
                         "peak_gib": max(peaks) / 1024 if peaks else None, "note": note})
            _write(out, rows, tiny, device)
            if settings.get("two_pass"):
                manager.get("vae"), manager.get("text_encoder")  # two-pass mode moved them off the GPU


def _pass_peaks(memory: list[dict], end_peak: float | None) -> str:
    """Peak GPU memory of each pass: pass 1's from its memory event, pass 2's at the end."""
    one = next((m.get("gpu_peak_mb") for m in memory if m.get("stage") == "after pass 1, before freeing"), None)
    if one is None or end_peak is None:
        return "no GPU memory figures (CPU)"
    return f"pass 1 peak {one / 1024:.2f} GiB, pass 2 peak {end_peak / 1024:.2f} GiB"


def _write(out: Path, rows: list[dict], tiny: bool, device: torch.device) -> None:
    out.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    meta = {"title": f"Preprocessing, {'tiny' if tiny else 'real-size'} models on {gpu}", "gpu": gpu,
            "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__}
    (out / "gpu_preprocess.json").write_text(json.dumps({**meta, "rows": rows}, indent=2, default=str))
    lines = [meta["title"], "", " | ".join(COLUMNS), "|".join("---" for _ in COLUMNS)]
    lines += [" | ".join(_cell(r.get(c)) for c in COLUMNS) for r in rows]
    (out / "gpu_preprocess.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]), flush=True)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)
