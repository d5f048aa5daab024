"""torch.compile for the training decoder: whether (auto | on | off), how (Inductor's cache in the
studio home, the condition length marked dynamic), and the way down when compiling fails, at
compile time or at any compiled step: dynamic shapes, then static shapes, then eager; never a
failed run.

    compilation = prepare_compile(decoder, settings, device, total_steps, notes, facts, reporter)
    module = fabric.setup(AdapterHost(compilation.decoder, ...))
    loss_sum = compilation.run_step(lambda: accumulate_gradients(...), reset=optimizer.zero_grad)

Measured on an H200 (issue 14, full-size DiT, LoRA r64): a bs-1 60 s step 253 -> 93 ms compiled,
after a warm-up of about two minutes; a second run of the same shapes reads Inductor's cache.
The step is launch-bound (7,400 kernel launches, the GPU idle three quarters of the time), which
is what compiling fixes. On the CPU the compiled step gains little and the warm-up is long.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# `auto` compiles CUDA runs of at least this many optimizer steps: a warm-up of ~120 s against
# ~160 ms saved per step repays itself after ~750 steps the first time, far sooner from the cache.
AUTO_MIN_STEPS = 500
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
# Inputs whose time axis (dim 1) is the clip length; the condition's dim 1 is the token count.
FRAME_INPUTS = ("hidden_states", "attention_mask", "context_latents")
CONDITION_INPUTS = ("encoder_hidden_states", "encoder_attention_mask")


def compile_decision(mode: str, device: torch.device, total_steps: int) -> tuple[bool, str]:
    """(compile?, the pre-flight fact saying why) for the `compile` setting."""
    if mode == "off":
        return False, "torch.compile off"
    if mode == "on":
        return True, f"torch.compile on ({device.type}); the first step includes the warm-up"
    if device.type != "cuda":
        return False, f"torch.compile auto: off on {device.type} (a long warm-up for little gain there)"
    if total_steps < AUTO_MIN_STEPS:
        return False, (f"torch.compile auto: off for {total_steps} steps (its warm-up of a minute or two "
                       f"pays from about {AUTO_MIN_STEPS} steps on; set compile to on to force it)")
    return True, f"torch.compile auto: on for {total_steps} steps; the first step includes the warm-up"


def use_compile_cache(home: Path) -> Path:
    """Inductor's compiled kernels and graphs under `<home>/cache/torch_compile`, so a resume or the
    next run of the same shapes skips most of the warm-up. A cache folder the user set is kept."""
    if not os.environ.get(CACHE_ENV):
        folder = Path(home) / "cache" / "torch_compile"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[CACHE_ENV] = str(folder)
    return Path(os.environ[CACHE_ENV])


def compile_options() -> dict:
    """Keyword arguments for torch.compile (tests swap in a failing backend here).

    The default mode: "reduce-overhead" (CUDA graphs) re-records for every condition length,
    which real datasets vary from sample to sample."""
    return {}


def mark_dynamic_inputs(inputs: dict[str, Any]) -> None:
    """The condition length varies from sample to sample: marked dynamic, so a new length does not
    compile again (clip lengths become dynamic by themselves once a second one is seen)."""
    import torch._dynamo

    for key in CONDITION_INPUTS:
        tensor = inputs.get(key)
        if isinstance(tensor, torch.Tensor) and tensor.dim() > 1 and tensor.shape[1] > 1:
            torch._dynamo.maybe_mark_dynamic(tensor, 1)


# Stages, tried in order: dynamic shapes; static shapes (one graph per shape, up to dynamo's
# recompile limit, eager past it); eager. Inductor in torch 2.13 fails on dynamic shapes in the
# SDPA backward of this decoder on the CPU ("cannot determine truth value of Relational" while
# ordering strides); once that happened in this process, later runs start static.
_dynamic_failed = False


class CompiledDecoder(nn.Module):
    """The decoder called through torch.compile while training (grad on); eagerly when no gradient
    is taken (validation, samples) and for good once compiling has failed in every stage."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        self.stage = "static" if _dynamic_failed else "dynamic"
        import torch._functorch.config
        import torch._inductor.config

        torch._inductor.config.fx_graph_cache = True  # the defaults today; the warm-up saving relies on them
        torch._functorch.config.enable_autograd_cache = True
        self._compile()

    def _compile(self) -> None:
        dynamic = None if self.stage == "dynamic" else False
        # Not a submodule: its parameters are the decoder's, and state_dict keys stay the decoder's.
        object.__setattr__(self, "compiled", torch.compile(self.decoder, dynamic=dynamic, **compile_options()))

    @property
    def active(self) -> bool:
        return self.compiled is not None

    def forward(self, *args: Any, **inputs: Any) -> Any:
        if self.compiled is None or not torch.is_grad_enabled() or args:  # the engine passes keywords
            return self.decoder(*args, **inputs)
        if self.stage == "dynamic":
            mark_dynamic_inputs(inputs)
        return self.compiled(**inputs)

    def step_down(self) -> str:
        """After a failure: static shapes if dynamic ones failed, else eager. Returns the new stage."""
        global _dynamic_failed
        if self.stage == "dynamic":
            _dynamic_failed = True
            self.stage = "static"
            self._compile()
        else:
            self.stage = "eager"
            object.__setattr__(self, "compiled", None)
        return self.stage


class Compilation:
    """The decoder to train and the guard around each step that steps down on a compile failure."""

    def __init__(self, decoder: nn.Module, reporter: Any = None) -> None:
        self.decoder = decoder
        self.reporter = reporter
        self.steps = 0
        self.fallbacks: list[str] = []
        # The counters are per process: report this run's share.
        self._cache_before = _cache_counts() if isinstance(decoder, CompiledDecoder) else (0, 0)

    @property
    def active(self) -> bool:
        return isinstance(self.decoder, CompiledDecoder) and self.decoder.active

    def run_step(self, step: Callable[[], T], reset: Callable[[], Any]) -> T:
        """Run one optimizer step's forward and backward passes; when the compiled ones fail, undo
        (gradients, RNG) and run them again one stage down. An eager failure is raised as always."""
        if not self.active:
            return step()
        rng = _rng_state()
        started = time.perf_counter()
        while True:
            try:
                result = step()
                break
            except Exception as err:  # Dynamo, Inductor, Triton or a compiled kernel: step down
                if not self.active:
                    raise
                reset()
                _restore_rng(rng)
                self._step_down(err)
        if self.active:
            self.steps += 1
            if self.steps == 1:
                self._report_ready(time.perf_counter() - started)
        return result

    def _step_down(self, err: Exception) -> None:
        assert isinstance(self.decoder, CompiledDecoder)
        failed = self.decoder.stage
        stage = self.decoder.step_down()
        self.fallbacks.append(stage)
        root = getattr(err, "inner_exception", None) or err  # dynamo wraps the backend's own error
        first_line = (str(root).strip().splitlines() or [""])[0]
        reason = f"{type(root).__name__}: {first_line}"[:500]
        then = ("compiling with static shapes instead (one graph per clip and condition length)"
                if stage == "static" else "training goes on without it (eager)")
        message = f"torch.compile with {failed} shapes failed ({reason}); {then}"
        log.warning("%s", message)
        log.debug("the compile failure", exc_info=err)
        if self.reporter is not None:
            self.reporter.event("compile_fallback", level="warning", message=message, stage=stage,
                                step=self.steps)

    def _report_ready(self, seconds: float) -> None:
        hits, misses = (now - before for now, before in zip(_cache_counts(), self._cache_before))
        data = {"first_step_seconds": round(seconds, 2), "cache_hits": hits, "cache_misses": misses,
                "shapes": self.decoder.stage}
        log.info("compiled training step ready: %s", data)
        if self.reporter is not None:
            self.reporter.event("compile_ready", **data)


def prepare_compile(decoder: nn.Module, settings: TrainSettings, device: torch.device, total_steps: int,
                    notes: list[str], facts: list[str], reporter: Any = None) -> Compilation:
    """The decoder wrapped for compiling when the setting and the run call for it; the decision is
    added to the pre-flight facts, a platform that refuses to the notes (the user's warnings)."""
    enabled, fact = compile_decision(settings.compile, device, total_steps)
    facts.append(fact)
    if not enabled:
        return Compilation(decoder, reporter)
    import torch._dynamo

    # Each run wraps new adapter modules: without a reset, every run in this long-lived daemon adds a
    # cache entry to the decoder's forward until dynamo's recompile limit silently stops compiling.
    # The Inductor cache on disk keeps the next compile short.
    torch._dynamo.reset()
    try:
        wrapped = CompiledDecoder(decoder)
    except Exception as err:  # an unsupported platform can refuse at once
        notes.append(f"torch.compile unavailable ({type(err).__name__}: {err}); training runs eager")
        log.warning("torch.compile unavailable: %s", err)
        return Compilation(decoder, reporter)
    return Compilation(wrapped, reporter)


def _cache_counts() -> tuple[int, int]:
    """Inductor's FX graph cache (hits, misses) in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["inductor"]["fxgraph_cache_hit"]), int(counters["inductor"]["fxgraph_cache_miss"])


def _rng_state() -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _restore_rng(state: tuple[torch.Tensor, list[torch.Tensor] | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state_all(state[1])
