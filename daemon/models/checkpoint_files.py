"""Checks on checkpoint folders before loading, and the model fingerprint.

Every check reads only small things (config.json, the safetensors header and the file size), so
a broken folder is reported at once with the file named (CheckpointError), and fingerprinting a
4.7 GB checkpoint costs microseconds. No torch import here.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from shared.errors import CheckpointError

DIT_MODEL_TYPE = "acestep"
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024
FINGERPRINT_CHARS = 16


def read_config(folder: Path) -> dict:
    """config.json of a model folder as a dict; CheckpointError naming the file when missing or bad."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (every model folder needs its config.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_safetensors_header(path: Path) -> tuple[bytes, dict]:
    """The raw header bytes and parsed header of a .safetensors file, checked against its size."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{path}: corrupt safetensors file (only {size} bytes)")
            (length,) = struct.unpack("<Q", prefix)
            if length <= 0 or length > min(SAFETENSORS_MAX_HEADER, size - 8):
                raise CheckpointError(f"{path}: corrupt safetensors file (header length {length}, file {size} bytes)")
            raw = handle.read(length)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err})") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"{path}: corrupt safetensors file (its header is not JSON)") from None
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    if 8 + length + max(ends, default=0) != size:
        raise CheckpointError(
            f"{path}: corrupt or truncated safetensors file ({size} bytes, the header promises "
            f"{8 + length + max(ends, default=0)})"
        )
    return raw, header


def weight_files(folder: Path, stem: str) -> list[Path]:
    """`<stem>.safetensors`, or the shards listed by `<stem>.safetensors.index.json`."""
    folder = Path(folder)
    single = folder / f"{stem}.safetensors"
    index = folder / f"{stem}.safetensors.index.json"
    if single.is_file():
        return [single]
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as err:
            raise CheckpointError(f"{index}: not a valid safetensors index ({err})") from None
        return [folder / shard for shard in shards]
    raise CheckpointError(f"{single}: missing (no weights in {folder})")


def check_weights(folder: Path, stem: str) -> None:
    """Every weights file of `stem` is present and its safetensors header is whole."""
    for path in weight_files(folder, stem):
        read_safetensors_header(path)


def validate_dit_folder(folder: Path) -> dict:
    """Check a DiT folder (config, model_type, code files, weights headers); returns its config."""
    folder = Path(folder)
    config = read_config(folder)
    if config.get("model_type") != DIT_MODEL_TYPE:
        raise CheckpointError(
            f"{folder / 'config.json'}: model_type is {config.get('model_type')!r}, expected "
            f"{DIT_MODEL_TYPE!r} (is this an ACE-Step 1.5 DiT folder?)"
        )
    for target in (config.get("auto_map") or {}).values():
        code = folder / (str(target).rsplit(".", 1)[0].split("--")[-1] + ".py")
        if not code.is_file():
            raise CheckpointError(f"{code}: missing (config.json's auto_map points at it)")
    check_weights(folder, "model")
    return config


def validate_vae_folder(folder: Path) -> dict:
    """Check a diffusers VAE folder (config and weights header); returns its config."""
    config = read_config(folder)
    check_weights(folder, "diffusion_pytorch_model")
    return config


def validate_text_encoder_folder(folder: Path) -> dict:
    """Check a text encoder folder (config, tokenizer, weights header); returns its config."""
    folder = Path(folder)
    config = read_config(folder)
    if not any((folder / name).is_file() for name in ("tokenizer.json", "vocab.json", "tokenizer.model")):
        raise CheckpointError(f"{folder / 'tokenizer.json'}: missing (the text encoder needs its tokenizer)")
    check_weights(folder, "model")
    return config


def model_fingerprint(folder: Path) -> str:
    """A short hex id of a DiT: hash of config.json and each weights file's header and size."""
    folder = Path(folder)
    digest = hashlib.sha256()
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{config_path}: missing (needed for the model fingerprint)")
    digest.update(config_path.read_bytes())
    for path in weight_files(folder, "model"):
        raw, _header = read_safetensors_header(path)
        digest.update(path.name.encode())
        digest.update(raw)
        digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]
