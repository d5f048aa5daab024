"""Fixtures for the pipeline: a folder of two short demo songs as a user brings them (audio and lyrics
sidecars, no labels), and running the `pipeline` verb against a daemon."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.cli import main

SONGS = ("vocal/march.wav", "vocal/cancion.wav")  # 3 s and 3.5 s: the quickest of the demo clips
# Small enough for 2 cores: 1 s of each song, 1 epoch of 2 steps, 2 s samples.
QUICK = ("--epochs", "1", "--sample-seconds", "2", "--preprocess-set", "max_duration=1",
         "--train-set", "max_steps=2")


@pytest.fixture
def songs(tmp_path, demo_root) -> Path:
    """Two demo songs with their lyrics files, without captions, BPM or key."""
    folder = tmp_path / "my songs"
    for name in SONGS:
        source = demo_root / "dataset" / name
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / name)
        lyrics = source.with_name(f"{source.stem}.lyrics.txt")
        shutil.copy2(lyrics, folder / name.replace(".wav", ".lyrics.txt"))
    return folder


def run_pipeline(home: Path, capsys, folder: Path, *flags: str) -> tuple[int, str, str]:
    """`acestep-studio pipeline FOLDER --trigger sks ... --wait` as a user types it: (exit code, out, err)."""
    code = main(["--home", str(home), "--timeout", "30", "pipeline", str(folder), "--trigger", "sks", *QUICK,
                 *flags, "--wait"])
    out = capsys.readouterr()
    return code, out.out, out.err


def children(client, pipeline_id: str) -> list[str]:
    """The kinds of the jobs a pipeline job ran as its stages, in order."""
    return [job["kind"] for job in client.jobs() if job.get("parent") == pipeline_id]


def last_pipeline(client) -> dict:
    return [job for job in client.jobs() if job["kind"] == "pipeline"][-1]
