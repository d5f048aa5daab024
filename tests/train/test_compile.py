"""torch.compile in training: when `auto` compiles, and that a compile failure at any point (the
forward's compile, the backward's compile, dynamic shapes only) never fails the run and leaves the
training result as an eager run's. Compiling backends that fail on purpose stand in for Inductor."""
from __future__ import annotations

import pytest
import torch
from torch._dynamo.backends.common import aot_autograd

from daemon.train import compile as compile_module
from daemon.train.compile import AUTO_MIN_STEPS, compile_decision, use_compile_cache
from daemon.train.loop import train
from shared.train_settings import TrainSettings

from .conftest import RecordingReporter, small_settings

CUDA, CPU, MPS = torch.device("cuda"), torch.device("cpu"), torch.device("mps")


def test_auto_compiles_only_long_cuda_runs():
    assert compile_decision("auto", CUDA, AUTO_MIN_STEPS)[0]
    assert not compile_decision("auto", CUDA, AUTO_MIN_STEPS - 1)[0]
    assert not compile_decision("auto", CPU, 10_000)[0]
    assert not compile_decision("auto", MPS, 10_000)[0]
    assert compile_decision("on", CPU, 1)[0]
    assert not compile_decision("off", CUDA, 10_000)[0]
    assert "500" in compile_decision("auto", CUDA, 20)[1]


def test_settings_saved_as_yes_no_still_load():
    assert TrainSettings.from_dict({"compile": True}).compile == "on"
    assert TrainSettings.from_dict({"compile": False}).compile == "off"
    assert TrainSettings().compile == "auto"


def test_compile_cache_goes_to_the_studio_home(tmp_path, monkeypatch):
    monkeypatch.delenv(compile_module.CACHE_ENV, raising=False)
    assert use_compile_cache(tmp_path) == tmp_path / "cache" / "torch_compile"
    monkeypatch.setenv(compile_module.CACHE_ENV, str(tmp_path / "mine"))
    assert use_compile_cache(tmp_path / "other") == tmp_path / "mine"  # a folder the user set stays


def _always_fails(gm, example_inputs):
    raise RuntimeError("injected compile failure")


def _fails_on_dynamic_shapes(gm, example_inputs):
    symbolic = any(isinstance(x, torch.SymInt) for x in example_inputs) or any(
        isinstance(d, torch.SymInt) for x in example_inputs if isinstance(x, torch.Tensor) for d in x.shape)
    if symbolic:
        raise RuntimeError("injected: dynamic shapes unsupported")
    return gm.forward


def _fails_in_backward(gm, example_inputs):
    def backward_compiler(graph, inputs):
        raise RuntimeError("injected backward compile failure")

    return aot_autograd(fw_compiler=lambda graph, inputs: graph, bw_compiler=backward_compiler)(gm, example_inputs)


def _run(model, samples, tmp_path, **changes) -> tuple[dict, RecordingReporter]:
    reporter = RecordingReporter()
    settings = small_settings(epochs=1, batch_size=2, **changes)
    result = train(settings, model, samples, tmp_path, reporter)
    return result, reporter


@pytest.fixture
def forced_backend(monkeypatch):
    monkeypatch.setattr(compile_module, "_dynamic_failed", False)

    def use(backend):
        monkeypatch.setattr(compile_module, "compile_options", lambda: {"backend": backend})

    return use


@pytest.mark.parametrize("backend", [_always_fails, pytest.param(_fails_in_backward, marks=pytest.mark.slow)],
                         ids=["at_compile", "in_backward"])
def test_a_failing_compile_falls_back_to_eager_with_the_same_result(fresh_model, samples, tmp_path,
                                                                     forced_backend, backend):
    eager, _ = _run(fresh_model(), samples[:4], tmp_path / "eager", compile="off")
    forced_backend(backend)
    compiled, reporter = _run(fresh_model(), samples[:4], tmp_path / "compiled", compile="on")
    assert compiled["outcome"] == "completed" and compiled["global_step"] == eager["global_step"]
    fallbacks = reporter.of("compile_fallback")
    assert [f["stage"] for f in fallbacks] == ["static", "eager"]
    assert "injected" in fallbacks[0]["message"] and fallbacks[-1]["level"] == "warning"
    assert not reporter.of("compile_ready")
    # Gradients and RNG were rolled back before the eager retry: the same training as eager.
    assert compiled["last_loss"] == pytest.approx(eager["last_loss"], rel=1e-6)
    assert "torch.compile on (cpu)" in reporter.of("train_preflight")[0]["facts"][0]


def test_dynamic_shapes_failing_compiles_static_shapes(fresh_model, samples, tmp_path, forced_backend):
    forced_backend(_fails_on_dynamic_shapes)
    result, reporter = _run(fresh_model(), samples[:4], tmp_path, compile="on")
    assert result["outcome"] == "completed"
    assert [f["stage"] for f in reporter.of("compile_fallback")] == ["static"]
    assert reporter.of("compile_ready")[0]["shapes"] == "static"


def test_auto_leaves_a_cpu_run_eager(fresh_model, samples, tmp_path, forced_backend):
    forced_backend(_always_fails)  # would be reported if auto compiled anything
    _, reporter = _run(fresh_model(), samples[:4], tmp_path)
    assert not reporter.of("compile_fallback") and not reporter.of("compile_ready")
    assert "auto: off on cpu" in " ".join(reporter.of("train_preflight")[0]["facts"])


@pytest.mark.slow
@pytest.mark.parametrize("adapter_type", ["lora", "dora", "lokr", "loha"])
def test_every_adapter_compiles_with_gradient_checkpointing(fresh_model, samples, tmp_path, forced_backend,
                                                            adapter_type):
    """Dynamo and AOT autograd trace forward and backward of each adapter kind (aot_eager: the same
    graphs Inductor gets, without its slow CPU code generation)."""
    forced_backend("aot_eager")
    changes = dict(adapter_type=adapter_type, gradient_checkpointing=True, max_steps=1)  # one graph each
    eager, _ = _run(fresh_model(), samples[:2], tmp_path / "eager", compile="off", **changes)
    compiled, reporter = _run(fresh_model(), samples[:2], tmp_path / "compiled", compile="on", **changes)
    assert not reporter.of("compile_fallback")
    assert reporter.of("compile_ready")[0]["shapes"] == "dynamic"
    assert compiled["last_loss"] == pytest.approx(eager["last_loss"], rel=1e-4)
