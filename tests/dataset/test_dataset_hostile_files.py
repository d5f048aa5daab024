"""What a folder may hold besides audio: a scan never blocks and says what it skipped and why
(issue 10 items 9 and 13)."""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from daemon.audio.decode import load_audio
from shared import audio_probe
from shared.cli import main
from shared.dataset import load_dataset, save_dataset
from shared.dataset_csv import export_csv, import_csv
from shared.dataset_scan import scan_folder
from tests.conftest import ROOT
from tests.dataset.conftest import write_audio


@pytest.mark.timeout(60)
def test_a_named_pipe_is_skipped_never_opened(audio_folder, capsys):
    os.mkfifo(audio_folder / "x.wav")
    os.mkfifo(audio_folder / "alpha.lyrics.txt")  # a sidecar that is a pipe would block as well
    result = scan_folder(audio_folder)
    reasons = {p.path: p.reason for p in result.problems}
    assert reasons["x.wav"] == "a named pipe, not a regular file; skipped without opening it"
    assert reasons["alpha.wav"].startswith("alpha.lyrics.txt: a named pipe")
    assert sorted(s.audio for s in result.dataset.samples) == ["alpha.wav", "beta.wav", "sub/gamma.wav"]
    assert main(["--json", "dataset", "scan", str(audio_folder)]) == 0
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert {"file": "x.wav", "problem": reasons["x.wav"]} in problems


@pytest.mark.timeout(60)
def test_a_probe_that_never_answers_is_given_up(audio_folder, monkeypatch):
    stuck = threading.Event()
    read = audio_probe._read_header

    def hangs_on_beta(path):
        if path.name == "beta.wav":
            stuck.wait()  # a file on a dead network mount
        return read(path)

    monkeypatch.setattr(audio_probe, "_read_header", hangs_on_beta)
    monkeypatch.setattr(audio_probe, "PROBE_TIMEOUT_S", 0.5)
    try:
        result = scan_folder(audio_folder)
    finally:
        stuck.set()
    reasons = {p.path: p.reason for p in result.problems}
    assert reasons == {"beta.wav": "no answer within 0.5 s (a file on a stalled network drive, or one being "
                                    "written?); skipped"}
    assert sorted(s.audio for s in result.dataset.samples) == ["alpha.wav", "sub/gamma.wav"]  # the next ones read


def test_every_kind_of_entry_gets_a_truthful_reason(audio_folder):
    write_audio(audio_folder / "fine.wav")
    (audio_folder / "garbage.mp3").write_bytes(os.urandom(4096))
    os.symlink(audio_folder / "missing.wav", audio_folder / "dangling.wav")
    result = scan_folder(audio_folder)
    reasons = {p.path: p.reason for p in result.problems}
    assert "pipe" not in reasons["garbage.mp3"] and "not a valid .mp3 file" in reasons["garbage.mp3"]
    assert reasons["dangling.wav"] == f"a link to {audio_folder / 'missing.wav'}, which does not exist"


def without_permission_override() -> None:
    """In the child, before exec: root loses the capabilities that read any file regardless of its
    permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so it meets them as any user does."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def scan_as_a_user(folder: Path) -> dict:
    """`acestep-studio --json dataset scan FOLDER` with ordinary file permissions in force."""
    done = subprocess.run([sys.executable, "-m", "shared.cli", "--json", "dataset", "scan", str(folder)],
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, preexec_fn=without_permission_override, timeout=120)
    assert done.returncode == 0, done.stderr
    return {p["file"]: p["problem"] for p in json.loads(done.stdout)["problems"]}


def test_unreadable_files_and_folders_are_reported(tmp_path):
    folder = tmp_path / "songs"
    write_audio(folder / "fine.wav")
    write_audio(folder / "locked.wav").chmod(0o000)
    write_audio(folder / "private" / "inside.wav")
    (folder / "private").chmod(0o000)
    try:
        problems = scan_as_a_user(folder)
    finally:
        (folder / "private").chmod(0o755)
    assert problems == {
        "locked.wav": "cannot be read: permission denied (check the file's permissions)",
        "private/": "folder cannot be read (Permission denied); the files in it were skipped",
    }


def test_names_that_are_not_utf8_scan_save_export_and_decode(tmp_path, audio_folder):
    name = os.fsdecode(b"caf\xe9 latin-1.wav")  # a name written by an old system
    write_audio(audio_folder / "plain.wav", 1.0).rename(audio_folder / name)
    result = scan_folder(audio_folder)
    assert not result.problems and name in {s.audio for s in result.dataset.samples}
    saved = save_dataset(result.dataset, audio_folder / "dataset.json")
    loaded = load_dataset(audio_folder / "dataset.json")
    assert loaded.samples == saved.samples
    sample = next(s for s in loaded.samples if s.audio == name)
    assert load_audio(loaded.audio_path(sample)).audio.shape == (2, 48_000)
    csv = tmp_path / "labels.csv"
    export_csv(loaded, csv)
    assert "caf\ufffd latin-1.wav" in csv.read_text(encoding="utf-8")
    csv.write_text(csv.read_text(encoding="utf-8").replace("caf\ufffd latin-1.wav,,", "caf\ufffd latin-1.wav,cafe,"),
                   encoding="utf-8")
    report = import_csv(loaded, csv)
    assert not report.issues and sample.caption == "cafe"


def test_a_linked_folder_is_reported_not_followed(audio_folder, tmp_path):
    write_audio(tmp_path / "elsewhere" / "far.wav")
    os.symlink(tmp_path / "elsewhere", audio_folder / "linked")
    result = scan_folder(audio_folder)
    assert {p.path: p.reason for p in result.problems} == {
        "linked/": "a link to a folder, not followed; copy the folder in instead"}
