"""Fixtures for the training engine: the demo DiT loaded through the real loader, training tensors
made by running its condition encoder on random inputs, and a reporter that records events.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from shared.train_settings import TrainSettings


class RecordingReporter:
    """A Reporter (daemon/train/metrics.py) that keeps every event, metric and progress call."""

    def __init__(self, actions: tuple[str, ...] = ()) -> None:
        self.events: list[tuple[str, dict]] = []
        self.metrics: list[dict] = []
        self.messages: list[tuple[int, str]] = []  # (done, message) of every progress call
        self.actions = list(actions)

    def event(self, type: str, **data: Any) -> None:
        self.events.append((type, data))

    def metric(self, **values: Any) -> None:
        self.metrics.append(values)

    def progress(self, done: int, total: int, message: str = "", **extra: Any) -> None:
        self.messages.append((done, message))

    def take_action(self, name: str) -> bool:
        if name in self.actions:
            self.actions.remove(name)
            return True
        return False

    def of(self, type: str) -> list[dict]:
        return [data for t, data in self.events if t == type]


def load_dit(folder: str | Path) -> Any:
    """The demo DiT as a user's checkpoint is loaded: AutoModel with the shipped code, float32 on CPU."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True, dtype=torch.float32)
    return model.eval().requires_grad_(False)


def encode_samples(model: Any, frames: list[int], seed: int = 0) -> list[dict]:
    """Training samples: the model's condition encoder on random text/lyric embeddings."""
    from daemon.train.synthetic import synthetic_samples

    return synthetic_samples(model, frames, seed)


def write_tensor_folder(folder: Path, samples: list[dict], fingerprint: str = "", model_name: str = "",
                        trigger_word: str = "sks", tag_position: str = "prepend") -> Path:
    """The samples as a studio tensor folder (one safetensors per sample and a manifest)."""
    from daemon.preprocess.tensor_folder import MANIFEST_FORMAT, MANIFEST_VERSION, write_manifest, write_sample

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, sample in enumerate(samples):
        meta = {"filename": f"clip{i}.wav", "trigger_word": trigger_word, "tag_position": tag_position}
        entries.append(write_sample(folder / f"clip{i}.safetensors", sample, meta))
    write_manifest(folder, {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "files": entries, "settings": {},
        "model": {"name": model_name, "fingerprint": fingerprint},
    })
    return folder


def small_settings(**changes: Any) -> TrainSettings:
    """Fast settings for the tiny demo model: small adapter, no warm-up, no checkpoints unless asked."""
    base = dict(rank=4, alpha=8, dropout=0.0, lokr_linear_dim=4, lokr_linear_alpha=8, epochs=2,
                batch_size=2, gradient_accumulation=1, warmup_steps=0, scheduler="constant",
                learning_rate=1e-3, save_every_epochs=0, keep_last=0, best_warmup_epochs=0,
                crop_frames=0, seed=3)
    base.update(changes)
    return TrainSettings.from_dict(base)


@pytest.fixture(scope="session")
def dit_dir(demo_root) -> Path:
    return Path(demo_root) / "checkpoints" / "acestep-v15-demo"


@pytest.fixture
def fresh_model(dit_dir):
    """A function returning a freshly loaded demo model (the adapter mutates the one it trains)."""
    return lambda: load_dit(dit_dir)


@pytest.fixture(scope="session")
def samples(dit_dir) -> list[dict]:
    """Eight training samples of mixed lengths (some odd, so padding and patching are exercised)."""
    return encode_samples(load_dit(dit_dir), [24, 31, 40, 24, 36, 29, 40, 32])


@pytest.fixture
def reporter() -> RecordingReporter:
    return RecordingReporter()
