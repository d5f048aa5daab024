"""The training loop: one function, read top to bottom, and one function per phase it calls.

    result = train(settings, model, samples, run_dir, reporter, should_stop=lambda step: False)

`model` is the loaded AceStepConditionGenerationModel (only `decoder` and `null_condition_emb` are
used: the condition encoder's output is in the tensors); `samples` is a SampleSource (batching.py);
`reporter` has event / metric / progress / take_action (JobContext does).

Phases: `set_up` (device, data, adapter, optimizer, resume, pre-flight) -> per optimizer step
`train_step` -> per epoch `close_epoch` (validation, best model, early stop, scheduled checkpoint)
-> `write_outputs` (final/ or the stop's checkpoint) -> `finish` (the summary). The state they share
is one `Run`. The objective (objective.py), policies, batching, timesteps, optimizers, resume and
checkpoint state each live in their own module.
"""
from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import torch

from daemon.train import batching, policies
from daemon.train.adapters import Adapter, AdapterHost, build_adapter, check_placement
from daemon.train.compile import Compilation, prepare_compile
from daemon.train.distributed import Ranks, SilentMeter
from daemon.train.fallback import runnable_settings
from daemon.train.metrics import MetricsLogger, Reporter, free_memory_mb
from daemon.train.objective import Draws, accumulate_gradients, validation_loss
from daemon.train.optim import build_optimizer, build_scheduler
from daemon.train.runtime import (
    adapter_dtype, borrow_decoder, count_parameters, enable_gradient_checkpointing, keep_weights_through_conversion,
    limit_checkpointed_layers, memory_estimate_mb, model_device, model_dtype, seed_everything,
)
from daemon.train.resume import carry_best, resume, resume_schedule
from daemon.train.state import save_checkpoint
from daemon.train.timesteps import TimestepSampler
from shared.atomic import write_folder_atomic, write_json_atomic
from shared.errors import TrainingError
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    global_step: int = 0  # optimizer steps taken (skipped non-finite steps included)
    epoch: int = 0  # finished epochs
    batch_in_epoch: int = 0  # the next batch position inside the current epoch
    epoch_loss_sum: float = 0.0
    epoch_samples: int = 0
    loss_history: list[float] = field(default_factory=list)


class Policies:
    """The policy objects of one run, saved and restored together."""

    def __init__(self, settings: TrainSettings) -> None:
        self.nan = policies.NanGuard(settings.nan_halt)
        self.schedule = policies.CheckpointSchedule(settings.save_every_epochs, settings.save_every_steps)
        self.retention = policies.Retention(settings.keep_last)
        self.best = policies.BestTracker(settings.best_warmup_epochs, settings.best_min_delta)
        self.early = policies.EarlyStopping(settings.early_stop_patience)

    def state_dict(self) -> dict:
        return {"nan": self.nan.state_dict(), "best": self.best.state_dict(), "early": self.early.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.nan.load_state_dict(state["nan"])
        self.best.load_state_dict(state["best"])
        self.early.load_state_dict(state["early"])


def plan_steps(n_train: int, settings: TrainSettings, done: Progress | None = None) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps of the run); a resumed run's total counts
    the steps it took before plus those its epochs still need at today's batching."""
    batches = math.ceil(n_train / settings.global_batch_size)
    per_epoch = math.ceil(batches / settings.gradient_accumulation)
    done = done or Progress()
    total = done.global_step + max(settings.epochs - done.epoch, 0) * per_epoch
    if done.epoch < settings.epochs:
        total -= math.ceil(done.batch_in_epoch / settings.gradient_accumulation)  # the current epoch's, done
    return per_epoch, min(total, settings.max_steps) if settings.max_steps else total


@dataclass
class Run:
    """What one training run holds between its phases (set up, steps, epoch closes, outputs)."""

    settings: TrainSettings
    run_dir: Path
    reporter: Reporter
    samples: batching.SampleSource
    train_idx: list[int]
    val_idx: list[int]
    device: torch.device
    dtype: torch.dtype  # the decoder's inputs
    precision: str
    fabric: Any
    adapter: Adapter
    module: Any  # the decoder with its adapter, as Fabric set it up
    optimizer: Any
    scheduler: Any
    sampler: TimestepSampler
    null_condition_emb: torch.Tensor
    rules: Policies
    progress: Progress
    metadata: dict  # what every saved adapter carries
    meter: MetricsLogger
    trainable: int
    compilation: Compilation  # runs each step's passes compiled, or eagerly once compiling failed
    lengths: dict[int, int] = field(default_factory=dict)  # frames per training sample, for the buckets
    last_saved: Path | None = None
    sample_hook: Any = None  # samples while training (daemon/sample/during_training.py), or None
    ranks: Ranks = field(default_factory=Ranks)  # this process among several GPUs' (distributed.py)
    saved_step: int | None = None  # the step of last_saved

    @property
    def epoch_indices(self) -> list[int]:
        """The samples of one epoch: every training sample `dataset_repeats` times."""
        return self.train_idx * self.settings.dataset_repeats

    def draw(self, batch: batching.Batch) -> Draws:
        return Draws.sample(batch, self.sampler, self.settings.cfg_dropout)


def train(settings: TrainSettings, model: Any, samples: batching.SampleSource, run_dir: str | Path,
          reporter: Reporter, should_stop: Callable[[int], bool] | None = None,
          info: dict | None = None, keep_adapter: bool = False, sample_hook: Any = None,
          ranks: Ranks | None = None) -> dict:
    """Train an adapter on the decoder; returns a summary. Stops gracefully (saving first) when
    `should_stop(step)` turns true; raises TrainingError when it cannot start or go on.
    `sample_hook` (a TrainingSamples) renders samples after steps, epochs and at the end.
    `ranks`: this process's place when several train together (daemon/train/rank.py gives it).

    The decoder is given back as it was (adapter removed, flags restored) unless `keep_adapter`."""
    undo: list[Callable[[], None]] = []
    try:
        return _train(settings, model, samples, Path(run_dir), reporter,
                      should_stop or (lambda _step: False), dict(info or {}), undo, sample_hook, ranks or Ranks())
    finally:
        if not keep_adapter:
            for step in reversed(undo):
                step()


def _train(settings: TrainSettings, model: Any, samples: batching.SampleSource, run_dir: Path,
           reporter: Reporter, should_stop: Callable[[int], bool], info: dict,
           undo: list[Callable[[], None]], sample_hook: Any, ranks: Ranks) -> dict:
    run = set_up(settings, model, samples, run_dir, reporter, info, undo, ranks)
    settings = run.settings  # as set up: an optimizer this machine lacks is replaced there
    run.sample_hook = sample_hook
    progress, outcome, final = run.progress, "completed", None
    try:
        while progress.epoch < settings.epochs and outcome == "completed":
            batches = batching.epoch_batches(run.epoch_indices, settings.global_batch_size, settings.seed,
                                             progress.epoch, run.lengths)
            groups = batching.accumulation_groups(len(batches), settings.gradient_accumulation)
            for group in groups:
                if group.start < progress.batch_in_epoch:
                    continue  # done before the resume
                train_step(run, batches, group)
                if settings.max_steps and progress.global_step >= settings.max_steps:
                    outcome = "max_steps"
                    break
                if group is not groups[-1] and should_stop(progress.global_step):
                    outcome = "stopped"
                    break
            else:
                outcome = close_epoch(run)
                if outcome == "completed" and progress.epoch < settings.epochs and should_stop(progress.global_step):
                    outcome = "stopped"
        final = write_outputs(run, outcome)
        if run.sample_hook:
            run.sample_hook.at_end(run, outcome)
    finally:
        run.meter.close()
    return finish(run, outcome, final)


# -- set up: device, data, adapter, optimizer, resume, pre-flight ------------------------------
def set_up(settings: TrainSettings, model: Any, samples: batching.SampleSource, run_dir: Path,
           reporter: Reporter, info: dict, undo: list[Callable[[], None]], ranks: Ranks) -> Run:
    """Everything before the first step; what it changes on the shared decoder goes on `undo`."""
    if ranks.writes:
        run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(settings.seed)
    device, dtype = model_device(model), model_dtype(model)
    notes: list[str] = list(info.pop("notes", []))  # the job's own (e.g. a folder without a fingerprint)
    facts: list[str] = []  # how it runs, said once (precision, compile): no warning
    settings = runnable_settings(settings, device, reporter, notes)
    fabric, precision = ranks.make_fabric(settings, device)
    train_idx, val_idx = batching.split_validation(len(samples), settings.validation_share, settings.seed)
    batching.check_batch_size(len(train_idx), settings.batch_size)

    decoder_parameters = count_parameters(model.decoder)
    adapter, decoder, trainable = attach_adapter(settings, model.decoder, device, precision, notes, facts, undo)
    null_condition_emb = model.null_condition_emb.detach().to(device, dtype)
    config = getattr(model, "config", None)
    sampler = TimestepSampler(settings.timestep_mode, getattr(config, "timestep_mu", -0.4),
                              getattr(config, "timestep_sigma", 1.0))

    optimizer = ranks.wrap_optimizer(build_optimizer(settings, [p for _, p in adapter.trainable_parameters()],
                                                     device), settings)
    rules, progress = Policies(settings), Progress()
    saved = None
    if settings.resume_from:
        saved = resume(Path(settings.resume_from), settings, adapter, optimizer, rules, progress, reporter, notes)
        if ranks.writes:
            carry_best(Path(settings.resume_from), run_dir, rules.best)
    steps_per_epoch, total_steps = plan_steps(len(train_idx) * settings.dataset_repeats, settings, progress)
    scheduler = build_scheduler(settings, optimizer, total_steps)
    if settings.scheduler != "constant" and settings.warmup_steps > total_steps:
        notes.append(f"warm-up capped at the run's {total_steps} steps (warmup_steps is {settings.warmup_steps})")
    if saved:
        resume_schedule(scheduler, saved, settings)
    compilation = prepare_compile(decoder, settings, device, total_steps, notes, facts, reporter)

    max_frames = max(int(samples[i]["target_latents"].shape[0]) for i in train_idx[:64])
    preflight = {
        "trainable_parameters": trainable, "decoder_parameters": decoder_parameters,
        "adapter": settings.adapter_type, "device": str(device), "precision": precision,
        "train_samples": len(train_idx), "validation_samples": len(val_idx),
        "dataset_repeats": settings.dataset_repeats,
        "batch_size": settings.batch_size, "steps_per_epoch": steps_per_epoch, "total_steps": total_steps,
        **ranks.describe(settings),
        "memory_estimate_mb": round(memory_estimate_mb(
            model.decoder, trainable, settings, getattr(config, "hidden_size", 0),
            getattr(config, "num_hidden_layers", 1), max_frames), 1),
        "free_memory_mb": free_memory_mb(device), "notes": notes, "facts": facts, **info,
    }
    if ranks.writes:
        report_preflight(preflight, settings, run_dir, reporter)

    host = ranks.prepare(AdapterHost(compilation.decoder, adapter.own_modules()),
                         [p for _, p in adapter.trainable_parameters()], progress.global_step)
    module, optimizer = fabric.setup(host, optimizer)
    module.train()
    return Run(settings=settings, run_dir=run_dir, reporter=reporter, samples=samples, train_idx=train_idx,
               val_idx=val_idx, device=device, dtype=dtype, precision=precision, fabric=fabric,
               adapter=adapter, module=module, optimizer=optimizer, scheduler=scheduler, sampler=sampler,
               null_condition_emb=null_condition_emb, rules=rules, progress=progress,
               metadata=adapter_metadata(settings, info), trainable=trainable, compilation=compilation,
               lengths=batching.crop_lengths(samples, train_idx, settings.crop_frames),
               ranks=ranks, meter=MetricsLogger(run_dir, reporter, total_steps, device, epochs=settings.epochs)
               if ranks.writes else SilentMeter())


def attach_adapter(settings: TrainSettings, decoder: Any, device: torch.device, precision: str,
                   notes: list[str], facts: list[str], undo: list[Callable[[], None]]) -> tuple[Adapter, Any, int]:
    """Borrow the decoder, inject the adapter (its pre-flight notes too), switch on checkpointing as
    asked. Returns (adapter, the decoder to call, trainable parameter count). `notes` get what the
    user should look at, `facts` how the run goes about it."""
    undo.append(borrow_decoder(decoder))
    put_back = keep_weights_through_conversion(decoder, precision)
    if put_back:
        undo.append(put_back)
        facts.append(f"{precision}: the decoder trains in bf16; its own weights wait on the CPU meanwhile")
    adapter = build_adapter(settings)
    injected = adapter.inject(decoder)
    undo.append(adapter.remove)
    adapter.to(device, adapter_dtype(precision))
    trainable = check_placement(adapter, device, adapter_dtype(precision))
    notes += getattr(adapter, "notes", [])  # e.g. LoKr's "full matrix mode", in words
    if settings.gradient_checkpointing:
        undo.append(enable_gradient_checkpointing(injected))
        if settings.gradient_checkpointing_ratio < 1.0:
            kept, layers = limit_checkpointed_layers(injected, settings.gradient_checkpointing_ratio)
            facts.append(f"gradient checkpointing on {kept} of {layers} decoder layers")
    return adapter, injected, trainable


def report_preflight(preflight: dict, settings: TrainSettings, run_dir: Path, reporter: Reporter) -> None:
    """Everything the user should know before the first step: as an event and in config.json."""
    free, estimate = preflight["free_memory_mb"], preflight["memory_estimate_mb"]
    if free and estimate > free:
        preflight["notes"].append("the memory estimate exceeds the free memory: lower batch_size or "
                                  "crop_frames, or turn on gradient_checkpointing")
    reporter.event("train_preflight", **preflight)
    write_json_atomic(run_dir / "config.json", {"settings": settings.to_dict(), "preflight": preflight})


# -- one optimizer step ------------------------------------------------------------------------
def train_step(run: Run, batches: list[list[int]], group: range) -> None:
    """Forward and backward over one accumulation group, the NaN guard's verdict, the update, its
    metrics, and the checkpoint due after it (a halt saves, then raises)."""
    settings, progress, rules = run.settings, run.progress, run.rules
    started = time.perf_counter()
    group_samples = sum(len(batches[i]) for i in group)
    pad_tokens = []  # condition tokens padded in, per micro-batch (frames never are: batching.py)

    def load(index: int) -> batching.Batch:
        batch = batching.load_batch(run.samples, batches[index], settings.crop_frames)
        pad_tokens.append(batch.condition_pad_tokens)
        return run.ranks.place(batch, run.device, run.dtype)

    def passes() -> torch.Tensor:  # run again, one compile stage down, if the compiled one fails
        pad_tokens.clear()
        return accumulate_gradients(run.fabric, run.module, (load(i) for i in group), len(group),
                                    run.ranks.share(group_samples), run.draw, run.null_condition_emb, run.dtype,
                                    settings, shard=run.ranks.shard)

    loss_sum = run.compilation.run_step(passes, reset=lambda: run.optimizer.zero_grad(set_to_none=True))
    loss_sum = run.ranks.agree(loss_sum, progress.global_step + 1)  # all ranks' losses; their stop and actions
    grad_norm = run.fabric.clip_gradients(run.module, run.optimizer, max_norm=settings.max_grad_norm or math.inf,
                                          error_if_nonfinite=False)
    # One device sync for both numbers (each float() of a CUDA tensor waits for the GPU).
    loss_total, grad_value = torch.stack([loss_sum.float(), grad_norm.float()]).tolist()
    loss = loss_total / group_samples
    # Under 16-mixed, overflowing gradients are routine: the grad scaler skips those steps and
    # lowers its scale itself, so only a non-finite loss counts as bad there.
    scaled_fp16 = run.precision == "16-mixed"
    grads_ok = scaled_fp16 or math.isfinite(grad_value)
    verdict = rules.nan.observe(math.isfinite(loss) and grads_ok, step=progress.global_step + 1, epoch=progress.epoch,
                                detail=f"loss {loss}, grad norm {grad_value}")
    lr = run.optimizer.param_groups[0]["lr"]  # the rate this step uses (the scheduler moves it after)
    if verdict == "ok" or scaled_fp16:
        run.optimizer.step()
    if verdict == "ok":
        run.scheduler.step()
        progress.epoch_loss_sum += loss * group_samples
        progress.epoch_samples += group_samples
        progress.loss_history.append(loss)
    run.optimizer.zero_grad(set_to_none=True)
    progress.global_step += 1
    progress.batch_in_epoch = group.stop
    run.meter.step(step=progress.global_step, epoch=progress.epoch, loss=loss, lr=lr,
                   grad_norm=grad_value, step_time=time.perf_counter() - started, samples=group_samples,
                   skipped=verdict != "ok", condition_pad_tokens=sum(pad_tokens))
    if verdict == "halt":
        run.reporter.event("nan_halt", diagnosis=rules.nan.diagnosis())
        save(run, f"step_{progress.global_step}")
        raise TrainingError(f"training halted: {rules.nan.diagnosis()} The last good state is saved in "
                            f"{run.last_saved}.")
    if rules.schedule.due_after_step(progress.global_step) or run.reporter.take_action("save_now"):
        save(run, f"step_{progress.global_step}")
    if run.sample_hook:
        run.sample_hook.after_step(run)


# -- end of an epoch: validation, best model, early stopping, scheduled checkpoint -------------
def close_epoch(run: Run) -> str:
    """Count the finished epoch and apply the epoch policies; "early_stop" or "completed"."""
    settings, progress, rules = run.settings, run.progress, run.rules
    progress.epoch += 1
    progress.batch_in_epoch = 0
    epoch_loss = progress.epoch_loss_sum / max(progress.epoch_samples, 1)
    progress.epoch_loss_sum, progress.epoch_samples = 0.0, 0
    val_loss = None
    if run.val_idx:
        val_loss = run.ranks.from_rank_zero(lambda: validation_loss(
            run.module, run.samples, run.val_idx, settings, run.sampler, run.null_condition_emb, run.device,
            run.dtype))
    improved = rules.best.update(progress.epoch, val_loss if val_loss is not None else epoch_loss)
    if improved and run.ranks.writes:
        save_adapter_folder(run.adapter, run.run_dir / "best", {
            **run.metadata, "epoch": progress.epoch, "global_step": progress.global_step,
            "loss_ma5": rules.best.best_ma})
        run.reporter.event("best_model", epoch=progress.epoch, loss_ma5=rules.best.best_ma)
    run.meter.epoch(epoch=progress.epoch, step=progress.global_step, loss=epoch_loss,
                    moving_average=rules.best.moving_average, val_loss=val_loss)
    outcome = "completed"
    if rules.early.update(improved, tracking=progress.epoch >= settings.best_warmup_epochs):
        run.reporter.event("early_stop", epoch=progress.epoch, patience=settings.early_stop_patience)
        outcome = "early_stop"
    if rules.schedule.due_after_epoch(progress.epoch):
        save(run, f"epoch_{progress.epoch}")
    if run.sample_hook:
        run.sample_hook.after_epoch(run)
    return outcome


# -- outputs: checkpoints, final/, the summary --------------------------------------------------
def save(run: Run, name: str) -> Path:
    """A resumable checkpoint `checkpoints/<name>`, then retention and the event."""
    progress, checkpoints = run.progress, run.run_dir / "checkpoints"
    run.saved_step = progress.global_step
    if not run.ranks.writes:
        run.ranks.save_elsewhere(run.optimizer)
        run.last_saved = checkpoints / name
        return run.last_saved
    run.last_saved = save_checkpoint(
        checkpoints / name, adapter=run.adapter,
        adapter_metadata={**run.metadata, "epoch": progress.epoch, "global_step": progress.global_step},
        optimizer=run.optimizer, scheduler=run.scheduler, progress=asdict(progress),
        policies=run.rules.state_dict(), settings=run.settings.to_dict())
    run.rules.retention.prune(checkpoints, protect=(run.last_saved,))
    run.reporter.event("checkpoint_saved", path=str(run.last_saved), step=progress.global_step,
                       epoch=progress.epoch)
    return run.last_saved


def write_outputs(run: Run, outcome: str) -> Path | None:
    """A stop saves a resumable checkpoint (unless this step's is saved); any other end writes final/."""
    progress = run.progress
    if outcome == "stopped":
        if run.saved_step != progress.global_step:
            save(run, f"epoch_{progress.epoch}" if progress.batch_in_epoch == 0 else f"step_{progress.global_step}")
        return None
    if not run.ranks.writes:
        return None
    return write_final(run.adapter, run.run_dir, run.rules.best, {
        **run.metadata, "epoch": progress.epoch, "global_step": progress.global_step})


def finish(run: Run, outcome: str, final: Path | None) -> dict:
    """The run's summary, as the `train_finished` event and the job's result."""
    progress, best = run.progress, run.rules.best
    result = {
        "outcome": outcome, "global_step": progress.global_step, "epochs": progress.epoch,
        "trainable_parameters": run.trainable, "final": str(final) if final else None,
        "last_checkpoint": str(run.last_saved) if run.last_saved else None, "best_epoch": best.best_epoch,
        "best_loss_ma5": best.best_ma,
        "first_loss": progress.loss_history[0] if progress.loss_history else None,
        "last_loss": progress.loss_history[-1] if progress.loss_history else None,
    }
    run.reporter.event("train_finished", **result)
    return result


def adapter_metadata(settings: TrainSettings, info: dict) -> dict:
    """What every saved adapter carries in its JSON and safetensors header (TR-11)."""
    return {
        "trigger_word": info.get("trigger_word", ""), "tag_position": info.get("tag_position", "prepend"),
        "model_fingerprint": info.get("model_fingerprint", ""), "model_name": info.get("model_name", ""),
        "training_settings": settings.to_dict(), "created_by": "acestep-lora-studio",
    }


def save_adapter_folder(adapter: Adapter, target: Path, metadata: dict) -> Path:
    return write_folder_atomic(target, lambda folder: adapter.save(folder, metadata))


def write_final(adapter: Adapter, run_dir: Path, best: policies.BestTracker, metadata: dict) -> Path:
    """final/ is best/ when best-model tracking found one, else the last weights; an older final/ is
    replaced in one step, so there is never a moment without one."""
    final, best_dir = run_dir / "final", run_dir / "best"
    if best.best_epoch is not None and best_dir.is_dir():
        return write_folder_atomic(final, lambda folder: shutil.copytree(best_dir, folder, dirs_exist_ok=True))
    return save_adapter_folder(adapter, final, metadata)
