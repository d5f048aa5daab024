"""Write the demo checkpoint: a tiny ACE-Step 1.5 install in the real on-disk layout.

`write_demo_checkpoint(root, seed)` writes, deterministically from the seed:

    root/acestep-v15-demo/     config.json (model_type "acestep", auto_map), model.safetensors,
                               configuration_acestep_v15.py, modeling_acestep_v15_turbo.py,
                               silence_latent.pt [1, 64, T_sil]
    root/vae/                  a tiny diffusers AutoencoderOobleck of the real geometry
                               (48 kHz stereo, 64 latent channels, 1920 samples per frame)
    root/Qwen3-Embedding-0.6B/ a tiny Qwen3Model + byte-level BPE tokenizer
    root/acestep-5Hz-lm-demo/  a tiny Qwen3ForCausalLM, the same tokenizer with the 64000 audio-code
                               tokens added (demo_lm.py)

Everything loads through the same code paths as a user's real checkpoints (ACESTEP_INTERFACE.md
section 1). A stamp file makes a second call with the same seed a no-op;
`ensure_demo_checkpoint(root)` is the form tests and the CLI use.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from daemon.models.demo_lm import LM_NAME

log = logging.getLogger(__name__)

GENERATOR_VERSION = 3  # 2: official weight names, config keys and mask behaviour (issue 11); 3: the 5 Hz LM
DIT_NAME = "acestep-v15-demo"
VAE_NAME = "vae"
TEXT_ENCODER_NAME = "Qwen3-Embedding-0.6B"
FOLDERS = (DIT_NAME, VAE_NAME, TEXT_ENCODER_NAME, LM_NAME)
STAMP_NAME = ".demo_checkpoint.json"
CODE_FILES = ("configuration_acestep_v15.py", "modeling_acestep_v15_turbo.py")
SOURCE_DIR = Path(__file__).resolve().parent / "acestep_demo"
SILENCE_FRAMES = 15000  # 600 s at 25 frames per second: longer than any training clip
VAE_CONFIG = {
    "encoder_hidden_size": 128,  # 64 latent channels (mean and scale halves)
    "downsampling_ratios": [8, 8, 30],  # product 1920: one latent frame per 40 ms at 48 kHz
    "channel_multiples": [1, 1, 1],
    "decoder_channels": 16,
    "decoder_input_channels": 64,
    "audio_channels": 2,
    "sampling_rate": 48000,
}


def write_demo_checkpoint(root: Path, seed: int = 0) -> dict:
    """Write the demo checkpoint folders under `root` (skipped when already there with this seed)."""
    root = Path(root).expanduser().absolute()
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".demo_checkpoint.lock"):
        if _stamp_matches(root, seed):
            log.info("demo checkpoint in %s is up to date (seed %d)", root, seed)
            return _describe(root, seed, written=False, seconds=0.0)
        started = time.perf_counter()
        staging = root / f".demo-staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            _write_all(staging, seed)
            (root / STAMP_NAME).unlink(missing_ok=True)
            for name in FOLDERS:
                shutil.rmtree(root / name, ignore_errors=True)
                os.replace(staging / name, root / name)
            (root / STAMP_NAME).write_text(json.dumps(_stamp(seed)), encoding="utf-8")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        seconds = time.perf_counter() - started
        log.info("demo checkpoint written to %s in %.1f s (seed %d)", root, seconds, seed)
        return _describe(root, seed, written=True, seconds=seconds)


def ensure_demo_checkpoint(root: Path, seed: int = 0) -> dict:
    """The demo checkpoint under `root`, written on first use; returns the folders (see _describe)."""
    return write_demo_checkpoint(root, seed)


def demo_config(text_hidden_dim: int | None = None, **sizes: Any):
    """The demo DiT's config: tiny, with text_hidden_dim equal to the demo text encoder's width;
    `sizes` overrides other fields (benchmarks build larger models of the same code)."""
    from daemon.models.acestep_demo.configuration_acestep_v15 import AceStepConfig
    from daemon.models.demo_text_encoder import DEMO_TEXT_HIDDEN

    config = AceStepConfig(text_hidden_dim=text_hidden_dim or DEMO_TEXT_HIDDEN, **sizes)
    config.architectures = ["AceStepConditionGenerationModel"]
    config.auto_map = {
        "AutoConfig": "configuration_acestep_v15.AceStepConfig",
        "AutoModel": "modeling_acestep_v15_turbo.AceStepConditionGenerationModel",
    }
    return config


def _write_all(staging: Path, seed: int) -> None:
    import torch

    from daemon.models.demo_lm import write_demo_lm
    from daemon.models.demo_text_encoder import write_text_encoder

    with _seeded(seed):
        vae = _write_vae(staging / VAE_NAME)
    with _seeded(seed + 1):
        write_text_encoder(staging / TEXT_ENCODER_NAME)
    with _seeded(seed + 2):
        _write_dit(staging / DIT_NAME)
    with _seeded(seed + 3):
        write_demo_lm(staging / LM_NAME, staging / TEXT_ENCODER_NAME)
    torch.save(_silence_latent(vae), staging / DIT_NAME / "silence_latent.pt")


def _write_vae(folder: Path):
    from diffusers import AutoencoderOobleck

    vae = AutoencoderOobleck(**VAE_CONFIG).eval()
    vae.save_pretrained(folder, safe_serialization=True)
    return vae


def _write_dit(folder: Path) -> None:
    from daemon.models.acestep_demo.modeling_acestep_v15_turbo import AceStepConditionGenerationModel

    model = AceStepConditionGenerationModel(demo_config()).eval()
    model.save_pretrained(folder, safe_serialization=True)
    for name in CODE_FILES:
        shutil.copyfile(SOURCE_DIR / name, folder / name)


def _silence_latent(vae: Any) -> Any:
    """[1, 64, SILENCE_FRAMES]: the VAE's latent mean of digital silence, its steady frame tiled.

    Encoding 600 s would take minutes; the encoder is convolutional, so away from the edges every
    frame of silence encodes the same, and one second is enough to find that frame.
    """
    import torch

    with torch.inference_mode():
        silence = torch.zeros(1, VAE_CONFIG["audio_channels"], VAE_CONFIG["sampling_rate"])
        latent = vae.encode(silence).latent_dist.mean  # [1, 64, 25]
    steady = latent[:, :, latent.shape[-1] // 2:latent.shape[-1] // 2 + 1]
    return steady.repeat(1, 1, SILENCE_FRAMES).contiguous().clone()


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator for the block, restoring the caller's state afterwards."""
    import torch

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock so two processes never write the same demo root at once."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp_matches(root: Path, seed: int) -> bool:
    try:
        stamp = json.loads((root / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    folders_ok = all((root / name / "config.json").is_file() for name in FOLDERS)
    return folders_ok and stamp == _stamp(seed)


def _stamp(seed: int) -> dict:
    """What the demo depends on: the seed and the source that writes it (so edits regenerate it)."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    sources = [SOURCE_DIR / name for name in CODE_FILES] + [here / "demo_checkpoint.py", here / "demo_text_encoder.py",
                                                        here / "demo_lm.py"]
    for path in sources:
        digest.update(path.read_bytes())
    return {"generator_version": GENERATOR_VERSION, "seed": seed, "source": digest.hexdigest()[:16]}


def _describe(root: Path, seed: int, *, written: bool, seconds: float) -> dict:
    return {
        "root": str(root),
        "dit": str(root / DIT_NAME),
        "vae": str(root / VAE_NAME),
        "text_encoder": str(root / TEXT_ENCODER_NAME),
        "lm": str(root / LM_NAME),
        "seed": seed,
        "written": written,
        "seconds": round(seconds, 3),
    }
