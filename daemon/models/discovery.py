"""Find ACE-Step checkpoints on disk (FEATURES SV-3); never downloads or copies anything.

Roots searched, in order: `DaemonSettings.checkpoint_roots`, the folders a user added (kept in
`<studio home>/checkpoint_roots.json`) and `<demo_root>/checkpoints`. A root may also be an
ACE-Step install: when it holds no DiT folder itself, its `checkpoints/` is searched. A DiT folder
has `config.json` and a name starting with `acestep-v15-` or `model_type: "acestep"`; it uses the
`vae/` and `Qwen3-Embedding-0.6B/` beside it. The 5 Hz LMs (`acestep-5Hz-lm-*`, used for
auto-labelling) sit beside the DiT folders too (`find_lm`). No torch import here.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.atomic import write_json_atomic
from shared.errors import CheckpointError

log = logging.getLogger(__name__)

DIT_PREFIX = "acestep-v15-"
VAE_FOLDER = "vae"
TEXT_ENCODER_FOLDER = "Qwen3-Embedding-0.6B"
USER_ROOTS_FILE = "checkpoint_roots.json"
BASE_LIKE = ("base", "sft")
LM_PREFIX = "acestep-5Hz-lm-"
LM_PREFERENCE = ("acestep-5Hz-lm-1.7B", "acestep-5Hz-lm-0.6B", "acestep-5Hz-lm-4B")  # ACE-Step's default first


@dataclass(frozen=True)
class CheckpointInfo:
    """One DiT checkpoint and the VAE and text encoder it will be used with."""

    name: str
    path: str
    root: str
    kind: str  # "turbo" or "base"
    is_turbo: bool
    model_version: str | None
    size_bytes: int
    vae: str | None
    text_encoder: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def _absolute(path: str | os.PathLike) -> Path:
    return Path(os.path.expanduser(str(path))).absolute()


def user_roots(home: Path) -> list[str]:
    """The roots a user added, as stored (absolute paths)."""
    path = Path(home) / USER_ROOTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        log.warning("%s is unreadable (%s); ignoring the user checkpoint roots", path, err)
        return []
    return [str(r) for r in data.get("roots", []) if isinstance(r, str)] if isinstance(data, dict) else []


def _save_user_roots(home: Path, roots: list[str]) -> None:
    write_json_atomic(Path(home) / USER_ROOTS_FILE, {"roots": roots})


def add_root(home: Path, folder: str) -> str:
    """Remember a checkpoint root chosen by the user; CheckpointError when it is not a folder."""
    path = _absolute(folder)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a folder, cannot be added as a checkpoint root")
    roots = user_roots(home)
    if str(path) not in roots:
        roots.append(str(path))
        _save_user_roots(home, roots)
    return str(path)


def remove_root(home: Path, folder: str) -> str:
    """Forget a user-added root; CheckpointError when it was never added."""
    path = str(_absolute(folder))
    roots = user_roots(home)
    if path not in roots:
        raise CheckpointError(f"{path}: not among the added checkpoint roots ({', '.join(roots) or 'none'})")
    _save_user_roots(home, [r for r in roots if r != path])
    return path


def checkpoint_roots(configured: list[str], home: Path, demo_root: str | None) -> list[dict]:
    """Every root with where it comes from: `configured`, `user` or `demo`; duplicates dropped."""
    out: list[dict] = []
    seen: set[str] = set()
    candidates = [(r, "configured") for r in configured] + [(r, "user") for r in user_roots(home)]
    if demo_root:
        candidates.append((str(Path(demo_root) / "checkpoints"), "demo"))
    for raw, source in candidates:
        path = str(_absolute(raw))
        if path not in seen:
            seen.add(path)
            out.append({"path": path, "source": source, "exists": Path(path).is_dir()})
    return out


def is_dit_folder(folder: Path) -> bool:
    """True for a folder with config.json named `acestep-v15-*` or saying model_type "acestep"."""
    config = folder / "config.json"
    if not config.is_file():
        return False
    if folder.name.startswith(DIT_PREFIX):
        return True
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "acestep"
    except (OSError, ValueError, AttributeError):
        return False


def _dit_folders(root: Path) -> list[Path]:
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    found = [p for p in children if is_dit_folder(p)]
    if not found and (root / "checkpoints").is_dir():  # an ACE-Step install's top folder
        return _dit_folders(root / "checkpoints")
    return found


def describe_checkpoint(folder: Path, root: Path | None = None) -> CheckpointInfo:
    """The listing entry for one DiT folder (reads config.json and file sizes only)."""
    folder = _absolute(folder)
    root = root or folder.parent
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    if "is_turbo" in config:
        is_turbo = bool(config["is_turbo"])
    else:
        is_turbo = not any(word in folder.name.lower() for word in BASE_LIKE)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    vae, text = folder.parent / VAE_FOLDER, folder.parent / TEXT_ENCODER_FOLDER
    return CheckpointInfo(
        name=folder.name, path=str(folder), root=str(root), kind="turbo" if is_turbo else "base",
        is_turbo=is_turbo, model_version=config.get("model_version"), size_bytes=size,
        vae=str(vae) if (vae / "config.json").is_file() else None,
        text_encoder=str(text) if (text / "config.json").is_file() else None,
    )


def discover(roots: list[str]) -> list[CheckpointInfo]:
    """Every DiT checkpoint under the roots, in root order; the same folder is listed once."""
    out: list[CheckpointInfo] = []
    seen: set[Path] = set()
    for raw in roots:
        root = _absolute(raw)
        for folder in _dit_folders(root):
            real = folder.resolve()
            if real not in seen:
                seen.add(real)
                out.append(describe_checkpoint(folder, root))
    return out


def find_checkpoint(name_or_path: str, roots: list[str]) -> CheckpointInfo:
    """A checkpoint by folder name (first root wins) or by path; CheckpointError listing the known."""
    looks_like_path = os.sep in name_or_path or name_or_path.startswith((".", "~"))
    if not looks_like_path:
        found = discover(roots)
        for info in found:
            if info.name == name_or_path:
                return info
    candidate = _absolute(name_or_path)
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise CheckpointError(f"{candidate / 'config.json'}: missing (not a checkpoint folder)")
        return describe_checkpoint(candidate)
    if looks_like_path:
        raise CheckpointError(f"{candidate}: no such checkpoint folder")
    known = ", ".join(i.name for i in found) or "none found"
    raise CheckpointError(
        f"no checkpoint named {name_or_path!r} in {', '.join(roots) or 'no roots'} (known: {known})"
    )


def lm_folders(folders: list[str | os.PathLike]) -> list[Path]:
    """The 5 Hz LM folders (`acestep-5Hz-lm-*` with a config.json) in each folder or its `checkpoints/`."""
    out: list[Path] = []
    for raw in folders:
        for base in (_absolute(raw), _absolute(raw) / "checkpoints"):
            try:
                children = sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith(LM_PREFIX))
            except OSError:
                continue
            out += [p for p in children if (p / "config.json").is_file() and p not in out]
    return out


def find_lm(choice: str, roots: list[str], beside: str | None = None) -> Path:
    """The 5 Hz LM to use: a folder path, a folder name, or "auto" (the LMs beside the DiT folder
    `beside` first, then the roots; acestep-5Hz-lm-1.7B preferred). CheckpointError saying where it looked."""
    places = ([beside] if beside else []) + list(roots)
    choice = (choice or "auto").strip()
    if choice != "auto":
        path = _absolute(choice)
        if os.sep in choice or choice.startswith((".", "~")):
            if not (path / "config.json").is_file():
                raise CheckpointError(f"{path}: no 5 Hz LM folder here (config.json missing)")
            return path
        found = [p for p in lm_folders(places) if p.name == choice]
        if not found:
            raise CheckpointError(f"no 5 Hz LM named {choice!r} beside the checkpoint or in "
                                  f"{', '.join(places) or 'no roots'}")
        return found[0]
    found = lm_folders(places)
    if not found:
        raise CheckpointError(f"no 5 Hz LM ({LM_PREFIX}*) beside the checkpoint or in "
                              f"{', '.join(places) or 'no roots'}; put ACE-Step's acestep-5Hz-lm-1.7B "
                              "(or 0.6B, 4B) in the checkpoints folder")
    preferred = [p for name in LM_PREFERENCE for p in found if p.name == name]
    return (preferred or found)[0]
