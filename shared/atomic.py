"""Atomic writes: one helper for files, one for folders. Either way the new content is written under
a hidden temporary name beside the target, flushed to disk, and only then takes the target's
place, so a reader (or a crash) finds the old content or the new, never half of one or none.

    write_file_atomic(path, lambda tmp: save_file(tensors, str(tmp)))     # any writer of one file
    write_text_atomic(path, text)  /  write_json_atomic(path, data)       # the common cases
    write_folder_atomic(folder, lambda tmp: adapter.save(tmp, metadata))  # a folder of files

Durability is the same everywhere: every file written is fsync'd before the rename, and the
parent folder after it (where the OS allows opening folders). A folder replaces an existing one
by an atomic exchange where the OS has one (Linux renameat2, macOS renamex_np), else by two
renames with the old folder set aside for the moment in between.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any
from collections.abc import Callable

AT_FDCWD = -100
RENAME_EXCHANGE = 2  # Linux renameat2
RENAME_SWAP = 2  # macOS renamex_np


def write_file_atomic(path: str | os.PathLike, write: Callable[[Path], Any], mode: int | None = None) -> Path:
    """Have `write(tmp)` write a temporary file beside `path`, then put it in `path`'s place. With
    `mode` the file has those permissions from its creation on (a key file is never readable by
    others, not even for a moment). On any failure the temporary file is removed and `path` is untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode))
        write(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(path.parent)
    return path


def write_text_atomic(path: str | os.PathLike, text: str | bytes, mode: int | None = None) -> Path:
    """Write `text` (UTF-8, or bytes as they are) to `path` atomically."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return write_file_atomic(path, lambda tmp: tmp.write_bytes(data), mode)


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write `data` as indented JSON to `path` atomically; returns the path."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=str))


def write_folder_atomic(target: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Have `write(tmp)` fill a hidden folder beside `target`, then put it in `target`'s place
    (replacing an older one). A kill while writing leaves `.tmp-<name>-<pid>/` beside the target
    and the target as it was; the next write to the same target clears it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        _fsync_tree(tmp)
        if not target.exists():
            os.replace(tmp, target)
        elif not _exchange(tmp, target):
            aside = target.parent / f".old-{target.name}-{os.getpid()}"
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(target, aside)
            os.replace(tmp, target)
            shutil.rmtree(aside, ignore_errors=True)
        # after an exchange `tmp` holds the old folder; it goes below
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _fsync(target.parent)
    return target


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False where the OS or the file system has no such call."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):  # Windows: no C library by that name
        return False
    if hasattr(libc, "renameat2"):
        result = libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    elif hasattr(libc, "renamex_np"):
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), RENAME_SWAP)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        _fsync(path)
    _fsync(folder)


def _fsync(path: Path) -> None:
    """Flush a file or a folder's entries to disk; folders are skipped where they cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):
        return  # Windows opens no folders; their renames are durable without it
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF):  # some file systems refuse folder fsync
            raise
    finally:
        os.close(fd)
