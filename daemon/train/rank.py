"""One training process of a run on several GPUs (started by torchrun, see launch.py):

    python -m torch.distributed.run ... -m daemon.train.rank --spec @spec.json   (or --spec '<json>')

The spec: `settings` (TrainSettings), `checkpoint` (the DiT folder), `fingerprint` (the daemon's
model: a rank that loaded another refuses to start), `device` (cuda: GPU LOCAL_RANK; cpu), `dtype`
and `offload` (the daemon's model settings), and on the daemon's machine `run_dir`, `info`
(adapter metadata) and `home`. Each rank loads the checkpoint through the real loader on its own
GPU, reads the tensor folder and runs the loop (loop.py) with its `Ranks`. Rank 0 writes the run
folder, renders the samples with its own models and talks to the daemon's job over the line named
in the environment (launch.py).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from multiprocessing.connection import Client
from pathlib import Path
from typing import Any

import torch

from daemon.train.distributed import Ranks, RankReporter
from daemon.train.launch import CONTROL_ENV, ERROR_MARK, KEY_ENV
from shared.errors import TrainingError
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)


class DaemonLine:
    """Rank 0's end of the line to the daemon's job: a Reporter out, stop and actions in. A lost
    line (the daemon died) counts as a stop: the ranks save and end, as on the daemon's own stop."""

    def __init__(self, address: str, key: bytes) -> None:
        host, port = address.rsplit(":", 1)
        self.conn = Client((host, int(port)), authkey=key)
        self.lost = False

    def send(self, *message: Any) -> None:
        if self.lost:
            return
        try:
            self.conn.send(message)
        except OSError as err:
            log.warning("the daemon's line is lost (%s): stopping after this step", err)
            self.lost = True

    def event(self, type: str, **data: Any) -> None:
        self.send("event", type, data)

    def metric(self, **values: Any) -> None:
        self.send("metric", values)

    def progress(self, done: int, total: int, message: str = "", **extra: Any) -> None:
        self.send("progress", done, total, message, extra)

    def requests(self) -> set[str]:
        """What the job asked for since the last call: "stop", "save_now", "sample_now"."""
        asked: set[str] = set()
        try:
            while not self.lost and self.conn.poll(0):
                asked.add(self.conn.recv())
        except (EOFError, OSError):
            log.warning("the daemon's line is closed (the daemon is gone): saving and stopping")
            self.lost = True
        return asked | ({"stop"} if self.lost else set())


def run_rank(spec: dict, line: DaemonLine | None) -> dict:
    """Join the others, load the model and the tensors, train; rank 0's summary."""
    from daemon.models.manager import ModelManager
    from daemon.preprocess.tensor_folder import open_tensor_folder
    from daemon.train.batching import FolderSamples
    from daemon.train.compile import use_compile_cache
    from daemon.train.loop import train
    from shared.config import DaemonSettings

    settings = TrainSettings.from_dict(spec["settings"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if spec.get("device") == "cuda" else torch.device("cpu")
    ranks = Ranks.launch(settings, device, requests=line.requests if line else None)
    config = DaemonSettings(device=str(device), dtype=spec.get("dtype", "auto"), offload=bool(spec.get("offload")))
    manager = ModelManager(config, home=Path(spec["home"]) if spec.get("home") else None)
    use_compile_cache(manager.home)
    manager.select(spec["checkpoint"])
    if spec.get("fingerprint") and manager.fingerprint() != spec["fingerprint"]:
        raise TrainingError(f"rank {ranks.rank}: the checkpoint {spec['checkpoint']} on this machine is not the "
                            "one the run was started with (its fingerprint differs)")
    samples = FolderSamples(open_tensor_folder(settings.tensors_dir))
    model = manager.get("dit")
    manager.offload("encoder")  # its output is in the tensors
    info = spec.get("info") or {}
    sample_hook = None
    if ranks.writes and spec.get("run_dir"):
        from daemon.sample.during_training import TrainingSamples

        sample_hook = TrainingSamples(settings, manager, info)
    run_dir = Path(spec.get("run_dir") or ".")  # only rank 0 writes, and it has the daemon's run_dir
    return train(settings, model, samples, run_dir, RankReporter(ranks, line), info=info,
                 should_stop=lambda _step: ranks.stop_agreed, sample_hook=sample_hook, ranks=ranks)


def read_spec(text: str) -> dict:
    return json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, help="the run's spec as JSON, or @FILE")
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s rank {rank} %(name)s: %(message)s")
    line = None
    if rank == 0 and os.environ.get(CONTROL_ENV):
        line = DaemonLine(os.environ[CONTROL_ENV], bytes.fromhex(os.environ[KEY_ENV]))
    try:
        result = run_rank(read_spec(args.spec), line)
    except Exception as err:
        log.exception("rank %d failed", rank)
        print(ERROR_MARK + json.dumps({"rank": rank, "type": type(err).__name__, "message": str(err)}),
              file=sys.stderr, flush=True)
        if line:
            line.send("error", type(err).__name__, str(err))
        return 1
    if line:
        line.send("result", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
