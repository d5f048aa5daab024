"""Device, dtype and attention-implementation choice (FEATURES SV-4).

auto: CUDA, then XPU, then MPS, then CPU. dtype auto: bf16 on CUDA Ampere+ (compute 8.0+) and
XPU, fp16 on older CUDA and MPS, fp32 on CPU. Attention: flash_attention_2 when the package is
importable and the device is CUDA, else sdpa, else eager; the loader falls back down this list.
"""
from __future__ import annotations

import importlib.util
import logging

import torch

from shared.errors import SettingsError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _xpu_available() -> bool:
    return bool(getattr(torch, "xpu", None) and torch.xpu.is_available())


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(requested: str = "auto") -> torch.device:
    """The compute device for `requested` (auto, cpu, cuda, cuda:N, mps, xpu); SettingsError if absent."""
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _xpu_available():
            return torch.device("xpu")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise SettingsError(
            f"daemon.device: {requested!r} is not a device (auto, cpu, cuda, cuda:N, mps, xpu)"
        ) from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "xpu": _xpu_available(),
        "mps": _mps_available(),
    }.get(device.type, False)
    if not available:
        raise SettingsError(f"daemon.device: {requested!r} was asked for but is not available on this machine")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def resolve_dtype(device: torch.device, requested: str = "auto") -> torch.dtype:
    """The model dtype for `device`, or the one asked for (float32, bfloat16, float16)."""
    requested = (requested or "auto").strip().lower()
    if requested != "auto":
        if requested not in DTYPES:
            raise SettingsError(f"daemon.dtype: {requested!r} is not one of auto, {', '.join(DTYPES)}")
        return DTYPES[requested]
    if device.type == "cuda":
        major, _minor = torch.cuda.get_device_capability(device)
        return torch.bfloat16 if major >= 8 else torch.float16
    if device.type == "xpu":
        return torch.bfloat16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def attention_candidates(device: torch.device) -> list[str]:
    """Attention implementations to try, best first: flash_attention_2 (CUDA only), sdpa, eager."""
    candidates = []
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        candidates.append("flash_attention_2")
    if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        candidates.append("sdpa")
    candidates.append("eager")
    return candidates


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def describe_device(device: torch.device, dtype: torch.dtype) -> dict:
    """What the status shows: the device, its name and the dtype in use."""
    info = {"device": str(device), "type": device.type, "dtype": dtype_name(dtype), "resolved": True}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
    elif device.type == "cpu":
        info["name"] = "CPU"
        info["threads"] = torch.get_num_threads()
    return info
