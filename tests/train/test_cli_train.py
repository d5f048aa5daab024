"""`acestep-studio train --wait` from a shell: it ends by saying where the adapter is."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .test_interrupted import tensors  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_train_wait_prints_the_final_adapter_and_the_best_epoch(daemon, demo_root, dit_dir, tensors):  # noqa: F811
    sets = ["rank=4", "alpha=8", "epochs=3", "batch_size=4", "warmup_steps=0", "save_every_epochs=0",
            "best_warmup_epochs=0", f"checkpoint={dit_dir}"]
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--home", str(daemon.home), "train", "--tensors", str(tensors),
         *[arg for pair in sets for arg in ("--set", pair)], "--wait"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    job = daemon.jobs()[-1]
    final, best = job["result"]["final"], job["result"]["best_epoch"]
    assert Path(final).name == "final" and json.loads((Path(final) / "adapter_config.json").read_text())
    assert f"final adapter: {final}  (best epoch {best})" in done.stdout.splitlines()
