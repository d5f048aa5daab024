"""Adapters on the DiT decoder, one module per kind behind one small interface.

    adapter = build_adapter(settings)          # LoraAdapter (lora, dora) or LycorisAdapter (lokr, loha)
    decoder = adapter.inject(model.decoder)    # the decoder to call, with the adapter in it
    adapter.to(device, dtype)                  # every adapter parameter on the training device
    adapter.trainable_parameters()             # [(name, parameter)], in a fixed order
    adapter.save(folder, metadata)             # the ecosystem's format (ACESTEP_INTERFACE.md section 7)
    adapter.load(folder)                       # weights back into the injected adapter
    adapter.set_strength(1.5)
    adapter.merge(1.0)                         # folded into the decoder's weights (merge/export; a private copy)
    AdapterHost(decoder, adapter.own_modules())  # one module holding every trainable parameter
    adapter.remove()                           # the decoder as it was (it is shared with other jobs)

`load_adapter(decoder, folder)` opens a saved adapter of either kind for inference.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from shared.errors import TrainingError
from shared.train_settings import TrainSettings

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_PROJECTIONS = ("gate_proj", "up_proj", "down_proj")


class Adapter(Protocol):
    kind: str
    decoder: nn.Module | None  # the decoder it is injected into (call it to run with the adapter)

    def inject(self, decoder: nn.Module) -> nn.Module: ...

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]: ...

    def to(self, device: torch.device, dtype: torch.dtype) -> None: ...

    def save(self, folder: Path, metadata: dict) -> list[Path]: ...

    def load(self, folder: Path) -> None: ...

    def set_strength(self, strength: float) -> None: ...

    def merge(self, strength: float) -> None:
        """Fold the adapter into the decoder's own weights at `strength` and take it out (export/merge)."""
        ...

    def own_modules(self) -> nn.Module | None:
        """The adapter's modules that live outside the decoder (LyCORIS's network), else None."""
        ...

    def remove(self) -> None: ...


def target_suffixes(attention_targets: str, target_mlp: bool) -> list[str]:
    """Module-name suffixes the adapter wraps: `q_proj` (both) or `self_attn.q_proj` (self only)..."""
    if attention_targets == "both":
        names = list(ATTENTION_PROJECTIONS)
    elif attention_targets in ("self", "cross"):
        names = [f"{attention_targets}_attn.{p}" for p in ATTENTION_PROJECTIONS]
    else:
        raise TrainingError(f"attention_targets must be self, cross or both, got {attention_targets!r}")
    return names + (list(MLP_PROJECTIONS) if target_mlp else [])


def matching_modules(decoder: nn.Module, suffixes: list[str]) -> list[str]:
    """Names of the Linear modules of `decoder` whose name ends with one of the suffixes."""
    found = [
        name for name, module in decoder.named_modules()
        if isinstance(module, nn.Linear) and any(name == s or name.endswith("." + s) for s in suffixes)
    ]
    if not found:
        raise TrainingError(f"no decoder module matches the adapter targets {suffixes}")
    return found


def build_adapter(settings: TrainSettings) -> Adapter:
    """The adapter object for the settings' adapter_type (not injected yet)."""
    suffixes = target_suffixes(settings.attention_targets, settings.target_mlp)
    if settings.adapter_type in ("lora", "dora"):
        from daemon.train.adapters.lora import LoraAdapter

        return LoraAdapter(rank=settings.rank, alpha=settings.alpha, dropout=settings.dropout,
                           targets=suffixes, use_dora=settings.adapter_type == "dora")
    if settings.is_lycoris:
        from daemon.train.adapters.lokr import LycorisAdapter

        return LycorisAdapter(algo=settings.adapter_type, linear_dim=settings.lokr_linear_dim,
                              linear_alpha=settings.lokr_linear_alpha, factor=settings.lokr_factor,
                              decompose_both=settings.lokr_decompose_both,
                              use_tucker=settings.lokr_use_tucker, dropout=settings.dropout,
                              targets=suffixes)
    raise TrainingError(f"unknown adapter_type {settings.adapter_type!r}")


def load_adapter(decoder: nn.Module, folder: str | Path, strength: float = 1.0) -> Adapter:
    """Open a saved adapter (LoRA/DoRA or LoKr/LoHa, by its files) onto `decoder` for inference."""
    folder = Path(folder)
    if (folder / "adapter_config.json").is_file():
        from daemon.train.adapters.lora import LoraAdapter

        adapter: Adapter = LoraAdapter.from_folder(decoder, folder)
    else:
        from daemon.train.adapters.lokr import LycorisAdapter

        adapter = LycorisAdapter.from_folder(decoder, folder)
    adapter.set_strength(strength)
    return adapter


class AdapterHost(nn.Module):
    """The decoder plus the adapter's modules kept outside it, as one module: Fabric (and DDP) see
    every trainable parameter, and train()/eval() reach the adapter's dropout too."""

    def __init__(self, decoder: nn.Module, adapter_modules: nn.Module | None) -> None:
        super().__init__()
        self.decoder = decoder
        self.adapter_modules = adapter_modules

    def forward(self, *args, **kwargs):
        return self.decoder(*args, **kwargs)


def check_placement(adapter: Adapter, device: torch.device, dtype: torch.dtype) -> int:
    """Every trainable parameter on `device` in `dtype` (trap: LoKr left on CPU ran 10-50x slower);
    returns the trainable parameter count."""
    count = 0
    for name, param in adapter.trainable_parameters():
        if param.device.type != device.type or param.dtype != dtype:
            raise TrainingError(
                f"adapter parameter {name} is on {param.device}/{param.dtype}, expected {device}/{dtype}"
            )
        count += param.numel()
    return count
