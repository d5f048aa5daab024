"""8-bit AdamW and Prodigy out of the box: both build from the default install, and a missing
package or device is a TrainingError that says what to do."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from daemon.train.optim import build_optimizer, unavailable_reason
from shared.errors import TrainingError
from shared.train_settings import TrainSettings

CPU = torch.device("cpu")


def test_prodigy_builds_from_the_default_install():
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = build_optimizer(TrainSettings(optimizer="prodigy", learning_rate=1.0), params, CPU)
    assert type(optimizer).__name__ == "Prodigy"


def test_8bit_adamw_is_installed_and_refused_off_cuda():
    assert importlib.util.find_spec("bitsandbytes") is not None  # a default dependency on Linux x86-64
    with pytest.raises(TrainingError, match="needs a CUDA GPU.*use adamw"):
        build_optimizer(TrainSettings(optimizer="adamw8bit"), [torch.nn.Parameter(torch.zeros(3))], CPU)


def test_a_missing_package_is_named_with_the_way_out(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("bitsandbytes", "prodigyopt") else real(name, *a))
    assert "pip install bitsandbytes" in unavailable_reason("adamw8bit", torch.device("cuda"))
    assert "pip install prodigyopt" in unavailable_reason("prodigy", CPU)
    assert unavailable_reason("adamw", CPU) is None and unavailable_reason("adafactor", CPU) is None
