"""The models preprocessing needs, taken from the daemon's model manager (service "models").

A thin adapter so the preprocessing code names what it uses (VAE, text encoder + tokenizer,
DiT for its condition encoder, silence latent) and how it frees memory between passes, without
knowing the manager's internals. `memory_snapshot` reports GPU (or process) memory for events.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
from typing import Any
from collections.abc import Iterator

import torch

log = logging.getLogger(__name__)


class PreprocessModels:
    """VAE, text encoder + tokenizer, condition encoder and silence latent of the selected checkpoint."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    @classmethod
    def from_services(cls, services: Any, checkpoint: str | None = None) -> "PreprocessModels":
        """The daemon's manager (bound to its settings); `checkpoint` selects a DiT by name or path."""
        from daemon.models.manager import manager_from

        manager = manager_from(services)
        if checkpoint:
            manager.select(checkpoint)
        return cls(manager)

    @property
    def fingerprint(self) -> str:
        """The selected DiT's fingerprint (selects the default checkpoint when none is)."""
        return str(self.manager.fingerprint())

    @property
    def name(self) -> str:
        self.manager.fingerprint()  # makes sure a checkpoint is selected
        return str(self.manager.selected.name)

    @property
    def device(self) -> torch.device:
        return torch.device(self.manager.device)

    def vae(self) -> contextlib.AbstractContextManager:
        """`with models.vae() as vae:` the VAE on the compute device for the block."""
        return self.manager.use("vae")

    @contextlib.contextmanager
    def text_encoder(self) -> Iterator[tuple[Any, Any]]:
        """`with models.text_encoder() as (model, tokenizer):`."""
        with self.manager.use("text_encoder") as model:
            yield model, self.manager.get("tokenizer")

    def condition_encoder(self) -> contextlib.AbstractContextManager:
        """`with models.condition_encoder() as encoder:` the DiT's condition encoder (`model.encoder`)."""
        return self.manager.use("encoder")

    def silence_latent(self) -> torch.Tensor:
        """The silence latent [1, T_sil, 64]."""
        return self.manager.get("silence_latent")

    def release(self, *names: str) -> None:
        """Move components off the accelerator and empty its cache (two-pass mode between passes)."""
        for name in names:
            self.manager.offload(name)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def memory_snapshot(device: torch.device | str) -> dict:
    """Memory now, in MB: accelerator allocated/reserved when on CUDA, and the process's resident set."""
    out: dict = {"rss_mb": _rss_mb()}
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        out["gpu_allocated_mb"] = round(torch.cuda.memory_allocated(device) / 2**20, 1)
        out["gpu_reserved_mb"] = round(torch.cuda.memory_reserved(device) / 2**20, 1)
        out["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None
