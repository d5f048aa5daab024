"""Fixtures for the sampler, merge and export: adapters saved for the demo checkpoint (random,
clearly non-zero weights, as after training), and helpers to read clips back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from shared.train_settings import TrainSettings

ADAPTER_SETTINGS = dict(rank=4, alpha=8, dropout=0.0, lokr_linear_dim=4, lokr_linear_alpha=8, lokr_factor=4)


def make_adapter_folder(dit_dir: Path, folder: Path, adapter_type: str, seed: int = 0, scale: float = 0.2,
                        **changes) -> Path:
    """An adapter of `adapter_type` for the demo DiT with random weights, saved as training saves it."""
    from transformers import AutoModel

    from daemon.models.checkpoint_files import model_fingerprint
    from daemon.train.adapters import build_adapter
    from daemon.train.loop import adapter_metadata

    settings = TrainSettings.from_dict({**ADAPTER_SETTINGS, "adapter_type": adapter_type, **changes})
    model = AutoModel.from_pretrained(str(dit_dir), trust_remote_code=True, dtype=torch.float32)
    adapter = build_adapter(settings)
    adapter.inject(model.decoder)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in adapter.trainable_parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
    info = {"trigger_word": "sks", "tag_position": "prepend", "model_name": dit_dir.name,
            "model_fingerprint": model_fingerprint(dit_dir)}
    adapter.save(folder, {**adapter_metadata(settings, info), "epoch": 1, "global_step": 1})
    adapter.remove()
    return folder


@pytest.fixture(scope="session")
def dit_dir(demo_root) -> Path:
    return Path(demo_root) / "checkpoints" / "acestep-v15-demo"


@pytest.fixture(scope="session")
def lora_folder(dit_dir, tmp_path_factory) -> Path:
    return make_adapter_folder(dit_dir, tmp_path_factory.mktemp("adapters") / "lora", "lora")


@pytest.fixture(scope="session")
def lokr_folder(dit_dir, tmp_path_factory) -> Path:
    return make_adapter_folder(dit_dir, tmp_path_factory.mktemp("adapters") / "lokr", "lokr", seed=1, scale=0.3)


class Events:
    """A reporter that keeps events (the sampler only emits events)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def event(self, type: str, **data) -> None:
        self.events.append((type, data))

    def of(self, type: str) -> list[dict]:
        return [d for t, d in self.events if t == type]


def read_audio(path: Path) -> np.ndarray:
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float32")
    assert rate == 48_000
    return audio
