"""Fixtures for the model tests: the demo checkpoints folder and managers over it.

The demo checkpoint itself comes from the session fixture `demo_root` (tests/conftest.py), which
calls `daemon.models.demo_checkpoint.ensure_demo_checkpoint`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.config import DaemonSettings


@pytest.fixture(scope="session")
def demo_checkpoints(demo_root: Path) -> Path:
    """The folder holding acestep-v15-demo/, vae/ and Qwen3-Embedding-0.6B/."""
    return demo_root / "checkpoints"


@pytest.fixture
def make_manager(tmp_path, demo_checkpoints):
    """Build ModelManagers on the CPU over the demo checkpoints, each in its own studio home."""
    from daemon.models.manager import ModelManager

    made = []

    def build(**overrides) -> ModelManager:
        settings = {"checkpoint_roots": [str(demo_checkpoints)], "demo_root": "", "device": "cpu", **overrides}
        manager = ModelManager(config=DaemonSettings.from_dict(settings), home=tmp_path / "studio")
        (tmp_path / "studio").mkdir(exist_ok=True)
        made.append(manager)
        return manager

    yield build
    for manager in made:
        manager.close()


@pytest.fixture
def broken_root(tmp_path, demo_checkpoints) -> Path:
    """A copy of the demo checkpoints to break: root/acestep-v15-demo is the DiT folder."""
    root = tmp_path / "broken"
    shutil.copytree(demo_checkpoints, root, ignore=shutil.ignore_patterns(".*"))
    return root
