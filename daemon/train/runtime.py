"""What the loop sets up before the first step: Fabric, precision, seeding, gradient checkpointing
and the memory estimate of the pre-flight report (compile.py decides and wraps torch.compile).
"""
from __future__ import annotations

import logging
import math
import random
from typing import Any
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from shared.errors import TrainingError
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (all devices) from one seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto`: bf16-mixed on CUDA with bf16, 16-mixed on older CUDA and MPS, 32-true on CPU."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if device.type == "mps":
        return "16-mixed"
    return "32-true"


def adapter_dtype(precision: str) -> torch.dtype:
    """Adapter weights train in float32 except under bf16-true, where everything is bf16."""
    return torch.bfloat16 if precision == "bf16-true" else torch.float32


def make_fabric(settings: TrainSettings, device: torch.device):
    """A Fabric for the model's device, in this process (several devices: distributed.py)."""
    from lightning.fabric import Fabric

    precision = resolve_precision(settings.precision, device)
    accelerator = {"cuda": "cuda", "mps": "mps", "xpu": "auto"}.get(device.type, "cpu")
    devices: Any = [device.index or 0] if device.type == "cuda" else 1
    fabric = Fabric(accelerator=accelerator, devices=devices, precision=precision, strategy="auto")
    return fabric, precision


def model_device(model: nn.Module) -> torch.device:
    return next(model.decoder.parameters()).device


def model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.decoder.parameters()).dtype


def borrow_decoder(decoder: nn.Module) -> Callable[[], None]:
    """Freeze the decoder for adapter training; returns the undo (it is the daemon's shared model)."""
    flags = [(p, p.requires_grad) for p in decoder.parameters()]
    was_training = decoder.training
    decoder.requires_grad_(False)

    def give_back() -> None:
        for param, flag in flags:
            param.requires_grad_(flag)
        decoder.train(was_training)

    return give_back


def keep_weights_through_conversion(decoder: nn.Module, precision: str) -> Callable[[], None] | None:
    """Under bf16-true Fabric converts the whole decoder to bf16 in place, and it is the daemon's
    shared one: its tensors of another dtype are copied to the CPU first and put back afterwards,
    exactly (a cast back would leave bf16-rounded weights). Returns the undo, or None when nothing
    will be converted."""
    if precision != "bf16-true":
        return None
    kept = {name: tensor.detach().to("cpu", copy=True) for name, tensor in _named_tensors(decoder)
            if tensor.is_floating_point() and tensor.dtype != torch.bfloat16}
    if not kept:
        return None

    def put_back() -> None:
        for name, tensor in _named_tensors(decoder):
            if name in kept:
                _replace_tensor(decoder, name, kept[name].to(tensor.device))

    return put_back


def _named_tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [*module.named_parameters(), *module.named_buffers()]


def _replace_tensor(module: nn.Module, name: str, value: torch.Tensor) -> None:
    owner_name, _, leaf = name.rpartition(".")
    owner = module.get_submodule(owner_name)
    if leaf in owner._parameters:
        owner._parameters[leaf].data = value
    else:
        owner._buffers[leaf] = value


def enable_gradient_checkpointing(decoder: nn.Module) -> Callable[[], None]:
    """Checkpoint the decoder's layers; its input is made to require grad first, so the checkpointed
    layers see a graph even though every base weight is frozen (the crash PEFT users met).
    Returns the undo."""
    first = getattr(decoder, "proj_in", None)
    if first is None:
        first = next(iter(decoder.children()))
    hook = first.register_forward_hook(lambda _m, _inp, out: _require_grad(out))
    if not hasattr(decoder, "gradient_checkpointing_enable"):
        hook.remove()
        raise TrainingError("this decoder does not support gradient checkpointing; turn it off")
    decoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def undo() -> None:
        hook.remove()
        decoder.gradient_checkpointing_disable()

    return undo


def limit_checkpointed_layers(decoder: nn.Module, ratio: float) -> tuple[int, int]:
    """Keep checkpointing on the first `ratio` share of the decoder's layers only (Side-Step's
    gradient_checkpointing_ratio): the rest keep their activations, faster but using more memory.
    Returns (checkpointed layers, layers)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in decoder.modules() if isinstance(m, GradientCheckpointingLayer)]
    keep = round(ratio * len(layers))
    for layer in layers[keep:]:
        layer.gradient_checkpointing = False
    return keep, len(layers)


def _require_grad(output: Any) -> Any:
    if isinstance(output, torch.Tensor) and output.is_floating_point():
        output.requires_grad_(True)
    return output


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def memory_estimate_mb(decoder: nn.Module, trainable: int, settings: TrainSettings, hidden: int,
                       layers: int, max_frames: int) -> float:
    """A rough upper estimate of training memory: weights, adapter + gradients + optimizer state,
    and activations (fewer with gradient checkpointing)."""
    weights = sum(p.numel() * p.element_size() for p in decoder.parameters())
    adapter = trainable * 4 * (1 + 1 + 2)
    frames = min(max_frames, settings.crop_frames or max_frames)
    tokens = settings.batch_size * math.ceil(frames / 2)
    per_layer = tokens * hidden * 2 * 24  # ~24 saved activations of hidden width per layer, 2 bytes
    layers = max(layers, 1)
    recomputed = round(settings.gradient_checkpointing_ratio * layers) if settings.gradient_checkpointing else 0
    activations = per_layer * (layers - recomputed + (2 if recomputed else 0))
    return (weights + adapter + activations) / 2**20
