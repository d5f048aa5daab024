"""The studio's LoKr layers compute LyCORIS's LoKr exactly, without LyCORIS's full-width copies
(daemon/train/adapters/kron.py): the same output and gradients as LyCORIS's own forward (bypass and
rebuild) for full and decomposed factors, at any strength, under autocast; the same parameters and
saved tensors; and no more full-width operations per layer than LoRA's."""
from __future__ import annotations

import copy

import pytest
import torch
from lycoris.modules.lokr import LokrModule
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from daemon.train.adapters import target_suffixes
from daemon.train.adapters.kron import use_structured_forward
from daemon.train.adapters.lokr import LycorisAdapter

# (in, out, linear_dim, factor, decompose_both, use_tucker, use_scalar): decomposed w2 (the presets),
# full w2 ("full matrix mode"), w1 decomposed too, a non-square layer, Tucker (no effect on linear
# layers) and a trained scalar.
CASES = [
    (512, 512, 16, 8, False, False, False),
    (512, 512, 64, -1, False, False, False),
    (512, 512, 4, 8, True, False, False),
    (512, 512, 2, -1, True, False, False),
    (512, 256, 16, 4, False, False, False),
    (256, 512, 32, -1, True, True, False),
    (512, 512, 16, 8, False, False, True),
]


def _pair(inp: int, out: int, dim: int, factor: int, both: bool, tucker: bool, scalar: bool, bypass=True):
    """(LyCORIS's module, the studio's structured copy) around one Linear, random trained-looking weights."""
    torch.manual_seed(inp + out + dim + factor)
    linear = nn.Linear(inp, out).requires_grad_(False)  # the model's weights are frozen
    plain = LokrModule("probe", linear, 1.0, dim, 2 * dim, factor=factor, decompose_both=both, use_tucker=tucker,
                       use_scalar=scalar, bypass_mode=bypass)
    with torch.no_grad():
        for param in plain.parameters():
            param.copy_(torch.randn(param.shape) * 0.1)
    plain.apply_to()
    structured = copy.deepcopy(plain)
    assert use_structured_forward([structured]) == 1
    return plain, structured


def _run(module: nn.Module, x: torch.Tensor, strength: float = 1.0, autocast: bool = False):
    module.multiplier = strength
    x = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = module(x)
    (y.float() ** 2).sum().backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    module.zero_grad(set_to_none=True)
    return y.detach().float(), x.grad, grads


@pytest.mark.parametrize("case", CASES, ids=lambda c: "in{}-out{}-dim{}-f{}-both{}-tucker{}-scalar{}".format(*c))
def test_structured_lokr_matches_lycoris_forward_and_gradients(case):
    plain, structured = _pair(*case)
    assert type(structured) is not LokrModule and isinstance(structured, LokrModule)
    x = torch.randn(2, 7, case[0])
    for strength in (1.0, 0.4, 0.0):
        want, want_dx, want_grads = _run(plain, x, strength)
        got, got_dx, got_grads = _run(structured, x, strength)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got_dx, want_dx, atol=1e-5, rtol=1e-4)
        assert got_grads.keys() == want_grads.keys()
        for name, grad in want_grads.items():
            torch.testing.assert_close(got_grads[name], grad, atol=1e-4, rtol=1e-4)
    # The weight change alone (what a merge or LyCORIS's own callers ask for).
    with torch.no_grad():
        torch.testing.assert_close(structured.bypass_forward_diff(x, 0.7), plain.bypass_forward_diff(x, 0.7),
                                   atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("case", CASES[:3], ids=["decomposed", "full-matrix", "both-decomposed"])
def test_structured_lokr_matches_lycoris_rebuilt_weight(case):
    """Against ΔW built with torch.kron (LyCORIS's rebuild mode, what ACE-Step's loader plays)."""
    rebuilt, _ = _pair(*case, bypass=False)
    _, structured = _pair(*case)
    x = torch.randn(3, case[0])
    with torch.no_grad():
        torch.testing.assert_close(structured(x), rebuilt(x), atol=1e-5, rtol=1e-4)


def test_structured_lokr_under_bf16_autocast_matches_lycoris():
    plain, structured = _pair(*CASES[0])
    x = torch.randn(2, 9, 512)
    want, want_dx, _ = _run(plain, x, autocast=True)
    got, got_dx, _ = _run(structured, x, autocast=True)
    torch.testing.assert_close(got, want, atol=0.05, rtol=0.02)
    torch.testing.assert_close(got_dx, want_dx, atol=0.5, rtol=0.05)


def test_dropout_applies_to_the_weight_change_only():
    plain, structured = _pair(*CASES[0])
    structured.drop = nn.Dropout(1.0)  # drops the whole weight change
    x = torch.randn(2, 5, 512)
    with torch.no_grad():
        torch.testing.assert_close(structured(x), structured.org_forward(x))
        structured.drop.eval()
        torch.testing.assert_close(structured(x), plain(x), atol=1e-5, rtol=1e-4)


class _FullWidth(TorchDispatchMode):
    """Counts the operations whose output is at least `size` elements."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.ops = size, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and out.numel() >= self.size and not func._schema.name.endswith(
                ("view", "_unsafe_view", "expand", "t", "transpose", "detach", "alias")):
            self.ops.append(func._schema.name)
        return out


def _full_width_ops(module: nn.Module, x: torch.Tensor) -> list[str]:
    x = x.detach().requires_grad_(True)
    with _FullWidth(x.numel()) as mode:
        module(x).sum().backward()
    return mode.ops


def test_a_lokr_layer_makes_no_more_full_width_passes_than_lora():
    from peft import LoraConfig, inject_adapter_in_model

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q_proj = nn.Linear(512, 512).requires_grad_(False)

    lora = inject_adapter_in_model(LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj"]), Holder()).q_proj
    plain, structured = _pair(*CASES[0])
    x = torch.randn(1, 64, 512)
    lora_ops = _full_width_ops(lora, x)
    assert len(_full_width_ops(structured, x)) <= len(lora_ops)
    assert len(_full_width_ops(plain, x)) > len(lora_ops)  # what LyCORIS's own body costs


def test_studio_lokr_keeps_lycoris_names_and_strength(tmp_path):
    """Injected through the studio's adapter: every layer structured, the parameters and the saved
    tensors under LyCORIS's names, and strength still scales the weight change."""
    torch.manual_seed(0)
    attn = nn.ModuleDict({"q_proj": nn.Linear(256, 256), "k_proj": nn.Linear(256, 128)})
    block = nn.ModuleDict({"self_attn": attn})
    adapter = LycorisAdapter("lokr", 8, 16, 4, False, False, 0.0, target_suffixes("self", False))
    adapter.inject(block)
    try:
        loras = adapter.network.loras
        assert loras and all(type(m).__name__ == "StructuredLokr" for m in loras)
        names = [n for n, _ in adapter.trainable_parameters()]
        assert all(n.split(".")[-1] in ("lokr_w1", "lokr_w2_a", "lokr_w2_b") for n in names)
        with torch.no_grad():
            for _, param in adapter.trainable_parameters():
                param.normal_(0, 0.1)
        x = torch.randn(2, 256)
        base = attn["q_proj"]._lycoris_original_forward(x)
        with torch.no_grad():
            full = attn["q_proj"](x) - base
            adapter.set_strength(0.25)
            quarter = attn["q_proj"](x) - base
        torch.testing.assert_close(quarter, full * 0.25, atol=1e-6, rtol=1e-4)
        adapter.save(tmp_path, {})
        from safetensors.torch import load_file

        saved = load_file(str(tmp_path / "lokr_weights.safetensors"))
        assert set(saved) == set(adapter.network.state_dict())
    finally:
        adapter.remove()
