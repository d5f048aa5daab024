"""The atomic writers: a crash at any file-system step leaves the old content or the new, complete,
never a half file, a half folder or nothing; and no temporary is left behind by a failed write."""
from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

import shared.atomic as atomic
from shared.atomic import write_file_atomic, write_folder_atomic, write_json_atomic, write_text_atomic
from tests.crashes import every_crash


def test_a_folder_is_always_there_old_or_new(tmp_path, monkeypatch):
    target = tmp_path / "final"

    def setup():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        (target / "a.json").write_text("old")
        (target / "b.bin").write_text("old")

    def write(folder: Path) -> None:
        (folder / "a.json").write_text("new")
        (folder / "b.bin").write_text("new")

    def check():
        assert sorted(p.name for p in target.iterdir()) == ["a.json", "b.bin"]
        assert (target / "a.json").read_text() == (target / "b.bin").read_text()

    steps = every_crash(monkeypatch, setup, lambda: write_folder_atomic(target, write), check)
    assert steps >= 2 and (target / "a.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]  # nothing left beside it


def test_a_folder_write_that_fails_leaves_the_old_folder_and_no_temporary(tmp_path):
    target = tmp_path / "best"
    write_folder_atomic(target, lambda folder: (folder / "x").write_text("1"))

    def broken(folder: Path) -> None:
        (folder / "x").write_text("2")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_folder_atomic(target, broken)
    assert (target / "x").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["best"]
    write_folder_atomic(target, lambda folder: (folder / "y").write_text("3"))
    assert [p.name for p in target.iterdir()] == ["y"]


def test_the_two_rename_fallback_also_replaces(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # an OS without an exchange call
    target = tmp_path / "f"
    for text in ("1", "2"):
        write_folder_atomic(target, lambda folder, text=text: (folder / "x").write_text(text))
    assert (target / "x").read_text() == "2" and [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_file_is_always_there_old_or_new(tmp_path, monkeypatch):
    path = tmp_path / "dataset.json"

    def setup():
        path.write_text('{"v": "old"}')

    def check():
        assert path.read_text() in ('{"v": "old"}', '{\n  "v": "new"\n}')

    every_crash(monkeypatch, setup, lambda: write_json_atomic(path, {"v": "new"}), check)
    assert path.read_text() == '{\n  "v": "new"\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["dataset.json"]


def test_a_file_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "sample.safetensors"
    write_text_atomic(path, b"old")

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")

    with pytest.raises(RuntimeError):
        write_file_atomic(path, broken)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["sample.safetensors"]


def test_a_file_gets_the_mode_asked_for(tmp_path):
    path = write_text_atomic(tmp_path / "daemon.json", "{}", mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
