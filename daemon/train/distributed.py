"""Data-parallel training inside one training process: what differs between the one-process run
and each of several ranks (one process per GPU, launched by launch.py, entered through rank.py).

The loop holds one `Ranks` and calls it at a few points; `Ranks()` is the one-process run, where
every call is the identity, so the loop reads the same either way:

- the epoch is cut into *global* batches (batch_size x GPUs samples, batching.py's buckets as on
  one GPU); every rank loads the whole global batch on the CPU, draws its timesteps, noise and
  condition dropout there (`place`), then keeps its own rows (`shard`). Every rank thus makes the
  same random draws from the same CPU generator: a step on N ranks is the step one process takes
  with the global batch, and the RNG state a checkpoint saves is every rank's;
- the adapter's own dropout runs on a per-rank stream (`prepare`), so ranks drop different units
  and the shared stream above stays the same on all of them;
- once per optimizer step, one all-reduce (`agree`) sums the ranks' losses and carries rank 0's
  stop and `save_now` / `sample_now` requests: every rank then stops and saves at the same step;
- only rank 0 writes (`writes`); the others take part in the collectives a save needs
  (`save_elsewhere`: ZeRO-1's optimizer state is gathered on rank 0);
- the validation loss is rank 0's, sent to all (`from_rank_zero`), so epoch decisions agree.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import torch

from daemon.train.batching import Batch
from daemon.train.objective import Draws
from daemon.train.runtime import make_fabric, resolve_precision
from shared.errors import TrainingError
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)

ACTIONS = ("save_now", "sample_now")  # the job's actions, carried in `agree` after the stop flag


class Ranks:
    """This process's place among the training processes; the default is the only one."""

    def __init__(self, rank: int = 0, world_size: int = 1, fabric: Any = None, precision: str = "",
                 requests: Callable[[], set[str]] | None = None, seed: int = 0) -> None:
        self.rank, self.world_size = rank, world_size
        self.fabric, self.precision = fabric, precision
        self.requests = requests or (lambda: set())  # rank 0: "stop" and actions asked for since the last step
        self.seed = seed
        self.stop_agreed = False
        self._actions: set[str] = set()  # agreed, not yet taken
        self._step, self._forwards = 0, 0
        self._shared_rng: tuple | None = None
        self._inputs: tuple[torch.device, torch.dtype] | None = None  # where `shard` puts its rows

    @classmethod
    def launch(cls, settings: TrainSettings, device: torch.device, requests: Callable[[], set[str]] | None = None
               ) -> "Ranks":
        """Join the other ranks (torchrun's environment names them): Fabric with DDP, process group up."""
        from lightning.fabric import Fabric
        from lightning.fabric.strategies import DDPStrategy

        precision = resolve_precision(settings.precision, device)
        accelerator = "cuda" if device.type == "cuda" else "cpu"
        # init_sync off: each rank loaded the same checkpoint (rank.py checks its fingerprint), and
        # broadcasting a frozen 2B decoder at start costs seconds; `prepare` sends the adapter instead.
        strategy = DDPStrategy(find_unused_parameters=False, forward_sync_buffers=False, init_sync=False)
        fabric = Fabric(accelerator=accelerator, devices=settings.devices, num_nodes=settings.num_nodes,
                        precision=precision, strategy=strategy)
        fabric.launch()
        if fabric.world_size != settings.world_size:
            raise TrainingError(f"{fabric.world_size} training processes joined, {settings.world_size} expected")
        return cls(fabric.global_rank, fabric.world_size, fabric, precision, requests, settings.seed)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def writes(self) -> bool:
        """Rank 0 writes the run folder (checkpoints, metrics, TensorBoard, samples, events)."""
        return self.rank == 0

    def describe(self, settings: TrainSettings) -> dict:
        """The pre-flight report's lines about the ranks (none on one process)."""
        if not self.distributed:
            return {}
        return {"ranks": self.world_size, "machines": settings.num_nodes, "strategy": settings.strategy,
                "global_batch_size": settings.global_batch_size}

    # -- set up ----------------------------------------------------------------------------------
    def make_fabric(self, settings: TrainSettings, device: torch.device) -> tuple[Any, str]:
        if not self.distributed:
            if settings.world_size > 1:
                raise TrainingError(f"{settings.world_size} GPUs asked for: such a run is launched by the "
                                    "daemon's train job (daemon/train/launch.py), one process per GPU")
            return make_fabric(settings, device)
        return self.fabric, self.precision

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer, settings: TrainSettings) -> torch.optim.Optimizer:
        """zero1: the same optimizer with its state split across the ranks (ZeroRedundancyOptimizer)."""
        if not self.distributed or settings.strategy != "zero1":
            return optimizer
        from torch.distributed.optim import ZeroRedundancyOptimizer

        kind = type(optimizer)
        accepted = inspect.signature(kind.__init__).parameters
        options = {k: v for k, v in optimizer.defaults.items() if k in accepted}
        params = [p for group in optimizer.param_groups for p in group["params"]]
        return ZeroRedundancyOptimizer(params, optimizer_class=kind, **options)

    def prepare(self, module: torch.nn.Module, adapter_parameters: list[torch.nn.Parameter],
                step: int) -> torch.nn.Module:
        """Rank 0's adapter weights on every rank, and the forward's dropout on this rank's own stream."""
        if not self.distributed:
            return module
        for param in adapter_parameters:
            torch.distributed.broadcast(param.data, src=0)
        self._step = step
        module.register_forward_pre_hook(self._own_stream)
        module.register_forward_hook(self._shared_stream)
        return module

    def _own_stream(self, _module: Any, _args: Any) -> None:
        device = self.fabric.device
        self._shared_rng = (torch.get_rng_state(), _device_rng(device))
        self._forwards += 1
        seed = ((self.seed * 1_000_003 + self.rank) * 1_000_033 + self._step) * 1_009 + self._forwards
        _seed_here(device, seed % 2**63)

    def _shared_stream(self, _module: Any, _args: Any, _output: Any) -> None:
        cpu, device_state = self._shared_rng
        torch.set_rng_state(cpu)
        _set_device_rng(self.fabric.device, device_state)

    # -- one step --------------------------------------------------------------------------------
    def place(self, batch: Batch, device: torch.device, dtype: torch.dtype) -> Batch:
        """On one process, the batch on the device; on ranks, the global batch stays on the CPU until
        `shard` (the draws are made there, the same on every rank)."""
        if not self.distributed:
            return batch.to(device, dtype)
        self._inputs = (device, dtype)
        return batch

    def share(self, group_samples: int) -> float:
        """The divisor of this rank's summed loss: DDP averages the ranks' gradients, so each divides
        by the step's samples over the ranks and the average is the mean over all the step's samples."""
        return group_samples / self.world_size

    def shard(self, batch: Batch, draws: Draws) -> tuple[Batch, Draws, float]:
        """This rank's rows of a global batch and its draws, on the device, and their weight: a rank
        left without rows (an epoch's last, short batch) computes the first row with weight 0, so
        the gradient all-reduce still finds it."""
        if not self.distributed:
            return batch, draws, 1.0
        rows = torch.arange(batch.size).tensor_split(self.world_size)[self.rank]
        weight = 1.0
        if rows.numel() == 0:
            rows, weight = torch.arange(1), 0.0
        device, dtype = self._inputs or (self.fabric.device, None)
        mine = Batch(batch.target_latents[rows], batch.attention_mask[rows], batch.encoder_hidden_states[rows],
                     batch.encoder_attention_mask[rows], batch.context_latents[rows], batch.condition_pad_tokens)
        their_draws = Draws(draws.t[rows].to(device), draws.noise[rows].to(device), draws.drop[rows].to(device))
        return mine.to(device, dtype), their_draws, weight

    def agree(self, loss_sum: torch.Tensor, step: int) -> torch.Tensor:
        """The step's loss summed over the ranks; rank 0's stop and action requests become every
        rank's (`stop_agreed`, `take_action`)."""
        if not self.distributed:
            return loss_sum
        asked = self.requests() if self.rank == 0 else set()
        flags = [float("stop" in asked)] + [float(name in asked) for name in ACTIONS]
        values = torch.tensor([float(loss_sum), *flags], dtype=torch.float64, device=self.fabric.device)
        values = self.fabric.all_reduce(values, reduce_op="sum")
        self.stop_agreed = self.stop_agreed or bool(values[1] > 0)
        self._actions |= {name for name, flag in zip(ACTIONS, values[2:].tolist()) if flag > 0}
        self._step, self._forwards = step, 0
        return values[0].to(loss_sum.device)

    def take_action(self, name: str) -> bool:
        if name in self._actions:
            self._actions.discard(name)
            return True
        return False

    # -- epochs and saves ------------------------------------------------------------------------
    def from_rank_zero(self, compute: Callable[[], float | None]) -> float | None:
        """Rank 0's value, computed there only and sent to all ranks."""
        if not self.distributed:
            return compute()
        return self.fabric.broadcast(compute() if self.rank == 0 else None, src=0)

    def save_elsewhere(self, optimizer: Any) -> None:
        """A rank that writes nothing still takes part in what a save gathers (zero1's state)."""
        if hasattr(optimizer, "consolidate_state_dict"):
            optimizer.state_dict()  # Fabric consolidates on rank 0; a collective every rank enters


class RankReporter:
    """The loop's reporter on a rank: rank 0's events go on to `inner` (the daemon), other ranks'
    nowhere; actions are the ones all ranks agreed on."""

    def __init__(self, ranks: Ranks, inner: Any = None) -> None:
        self.ranks, self.inner = ranks, inner

    def event(self, type: str, **data: Any) -> Any:
        return self.inner.event(type, **data) if self.inner else None

    def metric(self, **values: Any) -> None:
        if self.inner:
            self.inner.metric(**values)

    def progress(self, done: int, total: int, message: str = "", **extra: Any) -> None:
        if self.inner:
            self.inner.progress(done, total, message, **extra)

    def take_action(self, name: str) -> bool:
        return self.ranks.take_action(name)


class SilentMeter:
    """The metrics logger of a rank that writes nothing."""

    def step(self, **_point: Any) -> dict:
        return {}

    def epoch(self, **_point: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _device_rng(device: torch.device) -> torch.Tensor | None:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_device_rng(device: torch.device, state: torch.Tensor | None) -> None:
    if state is not None:
        torch.cuda.set_rng_state(state, device)


def _seed_here(device: torch.device, seed: int) -> None:
    """Seed the CPU generator and this rank's GPU only (torch.manual_seed would seed every GPU)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
