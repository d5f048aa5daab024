"""Fixtures for the captioning tests: the demo captioner and transcriber, small folders of demo clips."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHORT_CLIPS = ("vocal/march.wav", "vocal/cancion.wav")  # 3 s and 3.5 s: the quickest of the demo clips


@pytest.fixture(scope="session")
def demo_captioners(demo_root) -> dict:
    """The demo captioner and transcriber beside the demo checkpoint (`demo_root` writes them)."""
    from daemon.caption.demo_models import write_demo_captioners

    return write_demo_captioners(demo_root / "checkpoints")  # already there: only checked


@pytest.fixture
def clip_folder(tmp_path, demo_root) -> Path:
    """A folder holding two demo clips (with their lyrics sidecars), in their subfolder."""
    folder = tmp_path / "songs"
    for name in SHORT_CLIPS:
        source = demo_root / "dataset" / name
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / name)
    return folder


def caption_manager(tmp_path: Path, *roots: Path):
    """A model manager in this process whose checkpoint roots are `roots` (no DiT needed to caption)."""
    from daemon.models.manager import ModelManager
    from shared.config import DaemonSettings

    # demo_root "": not the ./demo_assets that `make run` leaves in the working folder
    return ModelManager(DaemonSettings(checkpoint_roots=[str(r) for r in roots], demo_root=""),
                        home=tmp_path / "home")
