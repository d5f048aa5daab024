"""The training loop: one function, read top to bottom.

    result = train(settings, model, samples, run_dir, reporter, should_stop=lambda step: False)

`model` is the loaded AceStepConditionGenerationModel (only `decoder` and `null_condition_emb` are
used: the condition encoder's output is in the tensors); `samples` is a SampleSource (batching.py);
`reporter` has event / metric / progress / take_action (JobContext does). The policies, batching,
timesteps, losses, optimizers and checkpoint state each live in their own module.
"""
from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

import torch

from daemon.train import batching, policies
from daemon.train.adapters import Adapter, AdapterHost, build_adapter, check_placement
from daemon.train.compile import prepare_compile
from daemon.train.losses import per_sample_loss, weighted_loss
from daemon.train.metrics import MetricsLogger, Reporter, free_memory_mb
from daemon.train.optim import build_optimizer, build_scheduler
from daemon.train.runtime import (
    adapter_dtype, borrow_decoder, count_parameters, enable_gradient_checkpointing, make_fabric, memory_estimate_mb,
    model_device, model_dtype, seed_everything,
)
from daemon.train.state import (
    check_resume_settings, read_checkpoint, restore_rng, save_checkpoint, unflatten_optimizer,
    verify_adapter,
)
from daemon.train.timesteps import TimestepSampler, apply_cfg_dropout, cfg_dropout_mask
from shared.atomic import write_json_atomic
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


@dataclass
class Draws:
    """The random draws of one micro-batch: timesteps, noise and which rows drop the condition."""

    t: torch.Tensor
    noise: torch.Tensor
    drop: torch.Tensor

    @classmethod
    def sample(cls, batch: batching.Batch, sampler: TimestepSampler, cfg_dropout: float) -> "Draws":
        device = batch.target_latents.device
        t = sampler.sample(batch.size, device)
        drop = cfg_dropout_mask(batch.size, cfg_dropout)
        # Padded frames get no noise: x_t is then zero there, as the decoder's own odd-length padding.
        noise = torch.randn(batch.target_latents.shape, device=device) * batch.attention_mask.unsqueeze(-1)
        return cls(t, noise, drop)


def flow_matching_losses(decoder: Any, batch: batching.Batch, draws: Draws, null_condition_emb: torch.Tensor,
                         dtype: torch.dtype) -> torch.Tensor:
    """Per-sample flow-matching losses [B] (float32, masked to real frames). r = t."""
    x0 = batch.target_latents
    tt = draws.t.view(-1, 1, 1)
    x_t = tt * draws.noise + (1.0 - tt) * x0
    condition = apply_cfg_dropout(batch.encoder_hidden_states, draws.drop, null_condition_emb)
    t = draws.t.to(dtype)
    prediction = decoder(
        hidden_states=x_t.to(dtype), timestep=t, timestep_r=t, attention_mask=batch.attention_mask.to(dtype),
        encoder_hidden_states=condition, encoder_attention_mask=batch.encoder_attention_mask,
        context_latents=batch.context_latents,
    )[0]
    return per_sample_loss(prediction, draws.noise - x0, batch.attention_mask)


def accumulate_gradients(fabric: Any, module: Any, micro_batches: Iterable[batching.Batch], count: int,
                         group_samples: int, draw: Callable[[batching.Batch], Draws],
                         null_condition_emb: torch.Tensor, dtype: torch.dtype,
                         settings: TrainSettings) -> torch.Tensor:
    """Backward over one optimizer step's micro-batches; the gradient is that of the mean per-sample
    loss over all `group_samples`, however they are split. Returns the summed (weighted) losses."""
    loss_sum: Any = 0.0
    for position, batch in enumerate(micro_batches):
        draws = draw(batch)
        losses = flow_matching_losses(module, batch, draws, null_condition_emb, dtype)
        losses = weighted_loss(losses, draws.t, settings.loss_weighting, settings.snr_gamma)
        with fabric.no_backward_sync(module, enabled=fabric.world_size > 1 and position < count - 1):
            fabric.backward(losses.sum() / group_samples)
        loss_sum = loss_sum + losses.detach().sum()  # stays on the device: one sync per step, later
    return loss_sum


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


def plan_steps(n_train: int, settings: TrainSettings) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps of the run)."""
    batches = math.ceil(n_train / settings.batch_size)
    per_epoch = math.ceil(batches / settings.gradient_accumulation)
    total = per_epoch * settings.epochs
    return per_epoch, min(total, settings.max_steps) if settings.max_steps else total


def train(settings: TrainSettings, model: Any, samples: batching.SampleSource, run_dir: str | Path,
          reporter: Reporter, should_stop: Callable[[int], bool] | None = None,
          info: dict | None = None, keep_adapter: bool = False) -> dict:
    """Train an adapter on the decoder; returns a summary. Stops gracefully (saving first) when
    `should_stop(step)` turns true; raises TrainingError when it cannot start or go on.

    The decoder is given back as it was (adapter removed, flags restored) unless `keep_adapter`."""
    undo: list[Callable[[], None]] = []
    try:
        return _train(settings, model, samples, Path(run_dir), reporter,
                      should_stop or (lambda _step: False), dict(info or {}), undo)
    finally:
        if not keep_adapter:
            for step in reversed(undo):
                step()


def _train(settings: TrainSettings, model: Any, samples: batching.SampleSource, run_dir: Path,
           reporter: Reporter, should_stop: Callable[[int], bool], info: dict,
           undo: list[Callable[[], None]]) -> dict:
    checkpoints = run_dir / "checkpoints"
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(settings.seed)

    # -- set up: device, data, adapter, optimizer ---------------------------------------------
    device, dtype = model_device(model), model_dtype(model)
    fabric, precision = make_fabric(settings, device)
    train_idx, val_idx = batching.split_validation(len(samples), settings.validation_share, settings.seed)
    batching.check_batch_size(len(train_idx), settings.batch_size)

    decoder_parameters = count_parameters(model.decoder)
    undo.append(borrow_decoder(model.decoder))
    adapter = build_adapter(settings)
    decoder = adapter.inject(model.decoder)
    undo.append(adapter.remove)
    adapter.to(device, adapter_dtype(precision))
    trainable = check_placement(adapter, device, adapter_dtype(precision))
    notes: list[str] = list(getattr(adapter, "notes", []))  # e.g. LoKr's "full matrix mode", in words
    if settings.gradient_checkpointing:
        undo.append(enable_gradient_checkpointing(decoder))
    null_condition_emb = model.null_condition_emb.detach().to(device, dtype)
    config = getattr(model, "config", None)
    sampler = TimestepSampler(settings.timestep_mode, getattr(config, "timestep_mu", -0.4),
                              getattr(config, "timestep_sigma", 1.0))

    optimizer = build_optimizer(settings, [p for _, p in adapter.trainable_parameters()], device)
    steps_per_epoch, total_steps = plan_steps(len(train_idx), settings)
    scheduler = build_scheduler(settings, optimizer, total_steps)
    compilation = prepare_compile(decoder, settings, device, total_steps, notes, reporter)
    rules = Policies(settings)
    progress = Progress()
    metadata = adapter_metadata(settings, info)
    if settings.resume_from:
        resume(Path(settings.resume_from), settings, adapter, optimizer, scheduler, rules, progress, reporter)
        carry_best(Path(settings.resume_from), run_dir, rules.best)

    # -- pre-flight: everything the user should know before the first step ------------------
    max_frames = max(int(samples[i]["target_latents"].shape[0]) for i in train_idx[:64])
    preflight = {
        "trainable_parameters": trainable, "decoder_parameters": decoder_parameters,
        "adapter": settings.adapter_type, "device": str(device), "precision": precision,
        "train_samples": len(train_idx), "validation_samples": len(val_idx),
        "batch_size": settings.batch_size, "steps_per_epoch": steps_per_epoch, "total_steps": total_steps,
        "memory_estimate_mb": round(memory_estimate_mb(
            model.decoder, trainable, settings, getattr(config, "hidden_size", 0),
            getattr(config, "num_hidden_layers", 1), max_frames), 1),
        "free_memory_mb": free_memory_mb(device), "notes": notes, **info,
    }
    if preflight["free_memory_mb"] and preflight["memory_estimate_mb"] > preflight["free_memory_mb"]:
        notes.append("the memory estimate exceeds the free memory: lower batch_size or crop_frames, or "
                     "turn on gradient_checkpointing")
    reporter.event("train_preflight", **preflight)
    write_json_atomic(run_dir / "config.json", {"settings": settings.to_dict(), "preflight": preflight})

    module, optimizer = fabric.setup(AdapterHost(compilation.decoder, adapter.own_modules()), optimizer)
    module.train()
    meter = MetricsLogger(run_dir, reporter, total_steps, device)
    scaled_fp16 = precision == "16-mixed"
    last_saved: Path | None = None
    outcome = "completed"

    def checkpoint(name: str) -> Path:
        nonlocal last_saved
        last_saved = save_checkpoint(
            checkpoints / name, adapter=adapter,
            adapter_metadata={**metadata, "epoch": progress.epoch, "global_step": progress.global_step},
            optimizer=optimizer, scheduler=scheduler, progress=asdict(progress),
            policies=rules.state_dict(), settings=settings.to_dict())
        rules.retention.prune(checkpoints, protect=(last_saved,))
        reporter.event("checkpoint_saved", path=str(last_saved), step=progress.global_step,
                       epoch=progress.epoch)
        return last_saved

    # -- the loop ------------------------------------------------------------------------
    try:
        while progress.epoch < settings.epochs and outcome == "completed":
            batches = batching.epoch_batches(train_idx, settings.batch_size, settings.seed, progress.epoch)
            groups = batching.accumulation_groups(len(batches), settings.gradient_accumulation)
            for group in groups:
                if group.start < progress.batch_in_epoch:
                    continue  # done before the resume
                started = time.perf_counter()
                group_samples = sum(len(batches[i]) for i in group)
                # Run at once, inside this iteration; run again eagerly if the compiled step fails.
                loss_sum = compilation.run_step(lambda: accumulate_gradients(
                    fabric, module, (batching.load_batch(samples, batches[i], settings.crop_frames)  # noqa: B023
                                     .to(device, dtype) for i in group), len(group), group_samples,  # noqa: B023
                    lambda b: Draws.sample(b, sampler, settings.cfg_dropout), null_condition_emb, dtype, settings),
                    reset=lambda: optimizer.zero_grad(set_to_none=True))
                grad_norm = fabric.clip_gradients(module, optimizer, max_norm=settings.max_grad_norm or math.inf,
                                                  error_if_nonfinite=False)
                # One device sync per step for both numbers (each float() of a CUDA tensor waits).
                loss_total, grad_value = torch.stack([loss_sum.float(), grad_norm.float()]).tolist()
                loss = loss_total / group_samples
                # Under 16-mixed, overflowing gradients are routine: the grad scaler skips those steps
                # and lowers its scale itself, so only a non-finite loss counts as bad there.
                grads_ok = scaled_fp16 or math.isfinite(grad_value)
                verdict = rules.nan.observe(math.isfinite(loss) and grads_ok,
                                            step=progress.global_step, epoch=progress.epoch,
                                            detail=f"loss {loss}, grad norm {grad_value}")
                if verdict == "ok" or scaled_fp16:
                    optimizer.step()
                if verdict == "ok":
                    scheduler.step()
                    progress.epoch_loss_sum += loss * group_samples
                    progress.epoch_samples += group_samples
                    progress.loss_history.append(loss)
                optimizer.zero_grad(set_to_none=True)
                progress.global_step += 1
                progress.batch_in_epoch = group.stop
                meter.step(step=progress.global_step, epoch=progress.epoch + 1, loss=loss,
                           lr=scheduler.get_last_lr()[0], grad_norm=grad_value,
                           step_time=time.perf_counter() - started, samples=group_samples,
                           skipped=verdict != "ok")
                if verdict == "halt":
                    reporter.event("nan_halt", diagnosis=rules.nan.diagnosis())
                    checkpoint(f"step_{progress.global_step}")
                    raise TrainingError(f"training halted: {rules.nan.diagnosis()} The last good state is "
                                        f"saved in {last_saved}.")
                if rules.schedule.due_after_step(progress.global_step) or reporter.take_action("save_now"):
                    checkpoint(f"step_{progress.global_step}")
                if settings.max_steps and progress.global_step >= settings.max_steps:
                    outcome = "max_steps"
                    break
                if group is not groups[-1] and should_stop(progress.global_step):
                    outcome = "stopped"
                    break
            else:
                # -- end of epoch: validation, best model, early stopping, scheduled checkpoint --
                progress.epoch += 1
                progress.batch_in_epoch = 0
                epoch_loss = progress.epoch_loss_sum / max(progress.epoch_samples, 1)
                progress.epoch_loss_sum, progress.epoch_samples = 0.0, 0
                val_loss = None
                if val_idx:
                    val_loss = validation_loss(module, samples, val_idx, settings, sampler,
                                               null_condition_emb, device, dtype)
                improved = rules.best.update(progress.epoch, val_loss if val_loss is not None else epoch_loss)
                if improved:
                    save_adapter_folder(adapter, run_dir / "best", {
                        **metadata, "epoch": progress.epoch, "global_step": progress.global_step,
                        "loss_ma5": rules.best.best_ma})
                    reporter.event("best_model", epoch=progress.epoch, loss_ma5=rules.best.best_ma)
                meter.epoch(epoch=progress.epoch, step=progress.global_step, loss=epoch_loss,
                            moving_average=rules.best.moving_average, val_loss=val_loss)
                if rules.early.update(improved, tracking=progress.epoch >= settings.best_warmup_epochs):
                    reporter.event("early_stop", epoch=progress.epoch, patience=settings.early_stop_patience)
                    outcome = "early_stop"
                if rules.schedule.due_after_epoch(progress.epoch):
                    checkpoint(f"epoch_{progress.epoch}")
                if outcome == "completed" and progress.epoch < settings.epochs and should_stop(progress.global_step):
                    outcome = "stopped"

        # -- the end: a stop saves a resumable checkpoint; a finished run writes final/ ----------
        saved_here = last_saved is not None and read_step(last_saved) == progress.global_step
        if outcome == "stopped" and not saved_here:
            name = f"epoch_{progress.epoch}" if progress.batch_in_epoch == 0 else f"step_{progress.global_step}"
            checkpoint(name)
        final = None
        if outcome != "stopped":
            final = write_final(adapter, run_dir, rules.best, {
                **metadata, "epoch": progress.epoch, "global_step": progress.global_step})
    finally:
        meter.close()

    result = {
        "outcome": outcome, "global_step": progress.global_step, "epochs": progress.epoch,
        "trainable_parameters": trainable, "final": str(final) if final else None,
        "last_checkpoint": str(last_saved) if last_saved else None, "best_epoch": rules.best.best_epoch,
        "best_loss_ma5": rules.best.best_ma,
        "first_loss": progress.loss_history[0] if progress.loss_history else None,
        "last_loss": progress.loss_history[-1] if progress.loss_history else None,
    }
    reporter.event("train_finished", **result)
    return result


def resume(folder: Path, settings: TrainSettings, adapter: Adapter, optimizer: torch.optim.Optimizer,
           scheduler: Any, rules: Policies, progress: Progress, reporter: Reporter) -> None:
    """Everything back from a checkpoint: weights (verified), optimizer, scheduler, policies, progress
    and, last, the RNG states, so the next draw is the one the interrupted run would have made."""
    state, tensors = read_checkpoint(folder)
    check_resume_settings(state["settings"], settings.to_dict(), settings.strict_resume)
    adapter.load(folder)
    verify_adapter(adapter, state, folder)
    optimizer.load_state_dict(unflatten_optimizer(state["optimizer"], tensors))
    scheduler.load_state_dict(state["scheduler"])
    rules.load_state_dict(state["policies"])
    for key in asdict(progress):
        setattr(progress, key, state[key])
    restore_rng(state["rng"], tensors)
    reporter.event("resumed", path=str(folder), step=progress.global_step, epoch=progress.epoch,
                   batch_in_epoch=progress.batch_in_epoch)


@torch.no_grad()
def validation_loss(module: Any, samples: batching.SampleSource, indices: list[int],
                    settings: TrainSettings, sampler: TimestepSampler, null_condition_emb: torch.Tensor,
                    device: torch.device, dtype: torch.dtype) -> float:
    """Mean loss on the held-out samples with noise and timesteps fixed by the seed (comparable
    between epochs); its own generator leaves the training RNG untouched."""
    was_training = module.training
    module.eval()
    generator = torch.Generator().manual_seed(settings.seed + 104_729)
    total = 0.0
    for index in indices:
        sample = dict(samples[index])
        if settings.crop_frames:
            for key in batching.FRAME_KEYS:
                sample[key] = sample[key][: settings.crop_frames]
        batch = batching.collate([sample]).to(device, dtype)
        t = sampler.sample(1, generator=generator).to(device)
        noise = torch.randn(batch.target_latents.shape, generator=generator).to(device)
        noise = noise * batch.attention_mask.unsqueeze(-1)
        draws = Draws(t, noise, torch.zeros(1, dtype=torch.bool))
        total += float(flow_matching_losses(module, batch, draws, null_condition_emb, dtype).sum())
    module.train(was_training)
    return total / len(indices)


def carry_best(checkpoint: Path, run_dir: Path, best: policies.BestTracker) -> None:
    """The resumed run's best/ comes along, so final/ can still be the best model."""
    source = checkpoint.resolve().parents[1] / "best"
    if best.best_epoch is not None and source.is_dir() and source != run_dir / "best":
        shutil.copytree(source, run_dir / "best", dirs_exist_ok=True)


def adapter_metadata(settings: TrainSettings, info: dict) -> dict:
    """What every saved adapter carries in its JSON and safetensors header (TR-11)."""
    return {
        "trigger_word": info.get("trigger_word", ""), "tag_position": info.get("tag_position", "prepend"),
        "model_fingerprint": info.get("model_fingerprint", ""), "model_name": info.get("model_name", ""),
        "training_settings": settings.to_dict(), "created_by": "acestep-lora-studio",
    }


def save_adapter_folder(adapter: Adapter, target: Path, metadata: dict) -> Path:
    from daemon.train.state import write_atomically

    return write_atomically(target, lambda folder: adapter.save(folder, metadata))


def write_final(adapter: Adapter, run_dir: Path, best: policies.BestTracker, metadata: dict) -> Path:
    """final/ is best/ when best-model tracking found one, else the last weights."""
    final = run_dir / "final"
    if best.best_epoch is not None and (run_dir / "best").is_dir():
        tmp = run_dir / ".tmp-final"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(run_dir / "best", tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        return final
    return save_adapter_folder(adapter, final, metadata)


def read_step(folder: Path) -> int:
    return policies.checkpoint_step(folder)

