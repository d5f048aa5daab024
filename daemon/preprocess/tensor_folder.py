"""Folders of training tensors: write one sample atomically, open a folder, load and check samples.

The contract (docs/ARCHITECTURE.md, ACESTEP_INTERFACE.md section 4 step 7): one `.safetensors`
file per sample holding `target_latents` [T,64] f32, `attention_mask` [T] f32,
`encoder_hidden_states` [L,H] f32, `encoder_attention_mask` [L] bool and `context_latents` [T,128]
f32, with the sample's metadata as JSON in the header entry `metadata`; plus `manifest.json`
(see `shared.tensor_manifest`). Legacy folders of torch `.pt` dicts made by ACE-Step's trainer,
Side-Step or ace-lora-trainer are read too, always with `torch.load(weights_only=True)`.

    folder = open_tensor_folder("tensors/")        # validates, lists samples
    check_fingerprint(folder, manager.fingerprint(), "acestep-v15-turbo")
    sample = folder.load(0)                         # {"target_latents": tensor, ..., "metadata": {...}}
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from shared.atomic import write_file_atomic
from shared.errors import TensorFolderError
from shared.tensor_manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    is_studio_manifest,
    no_fingerprint_warning,
    read_manifest,
    write_manifest,
)

log = logging.getLogger(__name__)

TENSOR_KEYS = (
    "target_latents", "attention_mask", "encoder_hidden_states", "encoder_attention_mask", "context_latents",
)
DTYPES = {
    "target_latents": torch.float32,
    "attention_mask": torch.float32,
    "encoder_hidden_states": torch.float32,
    "encoder_attention_mask": torch.bool,
    "context_latents": torch.float32,
}
RANKS = {key: 1 if key.endswith("attention_mask") else 2 for key in TENSOR_KEYS}
LATENT_CHANNELS = 64
CONTEXT_CHANNELS = 128
SAMPLE_SUFFIX = ".safetensors"
LEGACY_SUFFIX = ".pt"

__all__ = [
    "MANIFEST_FORMAT", "MANIFEST_NAME", "MANIFEST_VERSION", "TENSOR_KEYS", "SampleFile", "TensorFolder",
    "check_fingerprint", "file_sha256", "load_sample_file", "open_tensor_folder", "read_sample_header",
    "validate_tensors", "write_manifest", "write_sample",
]


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validate_tensors(tensors: dict[str, Any], where: str) -> None:
    """Keys, ranks, matching lengths and finite values; TensorFolderError naming `where` and the key."""
    missing = [k for k in TENSOR_KEYS if k not in tensors]
    if missing:
        raise TensorFolderError(f"{where}: missing tensor(s) {', '.join(missing)}")
    for key in TENSOR_KEYS:
        if not isinstance(tensors[key], torch.Tensor):
            raise TensorFolderError(f"{where}: {key} is {type(tensors[key]).__name__}, not a tensor")
    latents, ctx = tensors["target_latents"], tensors["context_latents"]
    hidden, hmask = tensors["encoder_hidden_states"], tensors["encoder_attention_mask"]
    _expect(latents.ndim == 2 and latents.shape[1] == LATENT_CHANNELS, where, "target_latents",
            f"[T,{LATENT_CHANNELS}]", latents)
    frames = latents.shape[0]
    _expect(frames > 0, where, "target_latents", "at least one frame", latents)
    _expect(tuple(tensors["attention_mask"].shape) == (frames,), where, "attention_mask", f"[{frames}]",
            tensors["attention_mask"])
    _expect(tuple(ctx.shape) == (frames, CONTEXT_CHANNELS), where, "context_latents",
            f"[{frames},{CONTEXT_CHANNELS}]", ctx)
    _expect(hidden.ndim == 2 and hidden.shape[0] > 0, where, "encoder_hidden_states", "[L,H]", hidden)
    _expect(tuple(hmask.shape) == (hidden.shape[0],), where, "encoder_attention_mask", f"[{hidden.shape[0]}]",
            hmask)
    for key in TENSOR_KEYS:
        value = tensors[key]
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise TensorFolderError(f"{where}: {key} holds NaN or Inf values")


def _expect(ok: bool, where: str, key: str, expected: str, value: torch.Tensor) -> None:
    if not ok:
        raise TensorFolderError(f"{where}: {key} has shape {list(value.shape)}, expected {expected}")


def _normalised(tensors: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The five tensors on CPU, contiguous, in the contract's dtypes (a leading batch dim of 1 dropped)."""
    out = {}
    for key in TENSOR_KEYS:
        value = tensors[key]
        if isinstance(value, torch.Tensor):
            if value.ndim == RANKS[key] + 1 and value.shape[0] == 1:
                value = value[0]
            value = value.detach().to("cpu", DTYPES[key]).contiguous()
        out[key] = value
    return out


def write_sample(path: str | os.PathLike, tensors: dict[str, Any], metadata: dict | None = None) -> dict:
    """Validate and write one sample atomically (temp name + os.replace); returns its manifest entry
    (path relative to the file's folder, shapes, dtypes, sha256, bytes). A crash leaves no half file."""
    path = Path(path)
    clean = _normalised(tensors)
    validate_tensors(clean, str(path))
    header = {"format": MANIFEST_FORMAT, "metadata": json.dumps(metadata or {}, default=str)}
    # safetensors creates 0600 files; tensor folders are meant to be shared
    write_file_atomic(path, lambda tmp: save_file(clean, str(tmp), metadata=header), mode=0o644)
    sha = file_sha256(path)
    return {
        "path": path.name,
        "shapes": {k: list(v.shape) for k, v in clean.items()},
        "dtypes": {k: str(v.dtype).removeprefix("torch.") for k, v in clean.items()},
        "sha256": sha,
        "bytes": path.stat().st_size,
    }


def read_sample_header(path: str | os.PathLike) -> dict:
    """A `.safetensors` sample's manifest entry and metadata from its header, without loading tensors."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            shapes = {k: list(fh.get_slice(k).get_shape()) for k in fh.keys()}
            dtypes = {k: _dtype_name(fh.get_slice(k).get_dtype()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise TensorFolderError(f"{path}: not a readable safetensors file ({err})") from None
    return {
        "path": path.name, "shapes": shapes, "dtypes": dtypes, "sha256": file_sha256(path),
        "bytes": path.stat().st_size, "metadata": _parse_metadata(meta.get("metadata"), path),
    }


def _dtype_name(safetensors_dtype: str) -> str:
    return {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "BOOL": "bool", "I64": "int64"}.get(
        safetensors_dtype, safetensors_dtype.lower())


def _parse_metadata(text: str | None, path: Path) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise TensorFolderError(f"{path}: the metadata in the header is not JSON ({err})") from None
    return value if isinstance(value, dict) else {"value": value}


def load_sample_file(path: str | os.PathLike) -> dict[str, Any]:
    """Load one sample file (ours or legacy `.pt`) as the five tensors plus `metadata`, validated."""
    path = Path(path)
    if not path.is_file():
        raise TensorFolderError(f"{path}: sample file is missing")
    if path.suffix == LEGACY_SUFFIX:
        raw = _load_legacy(path)
        metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    else:
        try:
            with safe_open(str(path), framework="pt") as fh:
                raw = {k: fh.get_tensor(k) for k in fh.keys()}
                metadata = _parse_metadata((fh.metadata() or {}).get("metadata"), path)
        except (SafetensorError, OSError, ValueError) as err:
            raise TensorFolderError(f"{path}: not a readable safetensors file ({err})") from None
    sample: dict[str, Any] = _normalised(raw) if all(k in raw for k in TENSOR_KEYS) else dict(raw)
    validate_tensors(sample, str(path))
    sample["metadata"] = metadata
    return sample


def _load_legacy(path: Path) -> dict:
    """A legacy `.pt` dict, loaded with weights_only=True (never unpickles arbitrary objects)."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise TensorFolderError(
            f"{path}: cannot be read as a tensor dict with weights_only=True ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(raw, dict):
        raise TensorFolderError(f"{path}: holds a {type(raw).__name__}, expected a dict of tensors")
    return raw


@dataclass
class SampleFile:
    """One sample of a folder: its absolute path, manifest entry (may be partial) and checksum."""

    path: Path
    relative: str
    entry: dict = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        return self.entry.get("sha256")

    @property
    def legacy(self) -> bool:
        return self.path.suffix == LEGACY_SUFFIX

    @property
    def frames(self) -> int | None:
        """Latent frames (T) from the manifest, without opening the file; None when not recorded."""
        shape = (self.entry.get("shapes") or {}).get("target_latents")
        return int(shape[0]) if shape else None


@dataclass
class TensorFolder:
    """An opened folder of training tensors (see module docstring); `root` has symlinks resolved."""

    root: Path
    samples: list[SampleFile]
    manifest: dict | None
    kind: str  # "studio" (our safetensors) or "legacy" (.pt dicts)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def fingerprint(self) -> str | None:
        return ((self.manifest or {}).get("model") or {}).get("fingerprint") if self.kind == "studio" else None

    @property
    def model_name(self) -> str | None:
        return ((self.manifest or {}).get("model") or {}).get("name") if self.kind == "studio" else None

    @property
    def settings(self) -> dict:
        return dict((self.manifest or {}).get("settings") or {})

    @property
    def errors(self) -> list[dict]:
        return list((self.manifest or {}).get("errors") or [])

    def names(self) -> list[str]:
        return [s.relative for s in self.samples]

    def load(self, index: int | str, *, verify: bool = False) -> dict[str, Any]:
        """Sample `index` (position or relative path) as tensors + `metadata`; checksum checked if asked."""
        sample = self._sample(index)
        if verify:
            self.verify_one(sample)
        return load_sample_file(sample.path)

    def verify_one(self, sample: SampleFile) -> None:
        """Compare the file's sha256 with the manifest's; TensorFolderError naming the file if not equal."""
        if sample.sha256 and file_sha256(sample.path) != sample.sha256:
            raise TensorFolderError(
                f"{sample.path}: checksum differs from {self.root / MANIFEST_NAME}; the file changed or is "
                "corrupt, preprocess it again"
            )

    def verify(self) -> None:
        """Checksums of every sample (cheap enough for thousands of small files)."""
        for sample in self.samples:
            self.verify_one(sample)

    def problems(self) -> list[dict]:
        """Load and check every sample (keys, shapes, NaN/Inf, checksums); one entry per bad file.

        For a folder from another tool before training on it; never raises for a bad sample."""
        found = []
        for sample in self.samples:
            try:
                self.verify_one(sample)
                load_sample_file(sample.path)
            except TensorFolderError as err:
                found.append({"file": sample.relative, "reason": str(err)})
        return found

    def _sample(self, index: int | str) -> SampleFile:
        if isinstance(index, int):
            return self.samples[index]
        for sample in self.samples:
            if sample.relative == index or sample.path.name == index:
                return sample
        raise TensorFolderError(f"{self.root}: no sample {index!r}")


def open_tensor_folder(path: str | os.PathLike, *, require_samples: bool = True) -> TensorFolder:
    """Open and check a tensor folder (ours or legacy), resolving symlinks; TensorFolderError if broken."""
    given = Path(path).expanduser()
    root = given.resolve()
    if not root.is_dir():
        raise TensorFolderError(f"{given}: not a folder of training tensors (no such folder)")
    manifest = read_manifest(root)
    if is_studio_manifest(manifest):
        version = manifest.get("version")
        if not isinstance(version, int) or version > MANIFEST_VERSION:
            raise TensorFolderError(
                f"{root / MANIFEST_NAME}: manifest version {version!r} is newer than this studio reads "
                f"({MANIFEST_VERSION}); update the studio")
        samples = [_listed(root, entry) for entry in manifest.get("files", [])]
        kind = "studio"
    else:
        samples, kind = _scan(root, manifest)
    if require_samples and not samples:
        raise TensorFolderError(f"{root}: no training tensors found (.safetensors or .pt files)")
    log.info("opened %s tensor folder %s with %d samples", kind, root, len(samples))
    return TensorFolder(root=root, samples=samples, manifest=manifest, kind=kind)


def _listed(root: Path, entry: Any) -> SampleFile:
    """A manifest entry (dict with `path`, or a bare string in legacy manifests) as a checked file."""
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict):
        raise TensorFolderError(f"{root / MANIFEST_NAME}: file entry {entry!r} is neither a path nor an object")
    relative = entry.get("path") or entry.get("file") or entry.get("filename")
    if not isinstance(relative, str) or not relative:
        raise TensorFolderError(f"{root / MANIFEST_NAME}: file entry {entry!r} has no path")
    candidate = Path(relative)
    if candidate.is_absolute():  # legacy manifests sometimes stored absolute paths: try the name here
        local = root / candidate.name
        full = local if local.exists() or not candidate.exists() else candidate
    else:
        full = root / candidate
    if not full.is_file():
        raise TensorFolderError(f"{full}: listed in {root / MANIFEST_NAME} but missing")
    return SampleFile(path=full, relative=relative if not candidate.is_absolute() else full.name, entry=entry)


def _scan(root: Path, manifest: Any) -> tuple[list[SampleFile], str]:
    """Samples of a folder without our manifest: a legacy manifest's list, else the files present."""
    listed = None
    if isinstance(manifest, list):
        listed = manifest
    elif isinstance(manifest, dict):
        listed = next((manifest[k] for k in ("files", "samples", "tensors") if isinstance(manifest.get(k), list)),
                      None)
    if listed is not None:
        samples = [_listed(root, e) for e in listed]
    else:
        found = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in (SAMPLE_SUFFIX, LEGACY_SUFFIX)
                       and not p.name.startswith("."))
        samples = [SampleFile(path=p, relative=p.name) for p in found]
    kind = "legacy" if any(s.legacy for s in samples) else "studio"
    return samples, kind


def check_fingerprint(folder: TensorFolder | str | os.PathLike, fingerprint: str, model_name: str) -> bool:
    """Refuse tensors made with another model (PP-6): TensorFolderError naming both models.

    Returns True when the fingerprints match, False when the folder has none (legacy folders)."""
    opened = folder if isinstance(folder, TensorFolder) else open_tensor_folder(folder)
    theirs = opened.fingerprint
    if theirs is None:
        log.warning("%s", no_fingerprint_warning(opened.root))
        return False
    if theirs != fingerprint:
        made_with = opened.model_name or "an unnamed model"
        raise TensorFolderError(
            f"{opened.root}: these tensors were made with model {made_with!r} (fingerprint {theirs[:12]}), "
            f"but this run uses {model_name!r} (fingerprint {fingerprint[:12]}). Preprocess the dataset again "
            f"with {model_name!r}, or train with {made_with!r}."
        )
    return True
