"""LoKr's forward on a linear layer as a structured Kronecker product, with as few operations as
LoRA's: the studio's LoKr modules stay LyCORIS's LokrModule (same parameters, same saved file, same
multiplier), only their bypass forward is computed differently.

The weight change of a LoKr linear layer is ΔW = s · kron(w1, w2) with w1 [up, uq] (small), w2
[vp, vq] (= w2_a @ w2_b when decomposed), out = up·vp, in = uq·vq, s = alpha / dim times the
multiplier (strength). With X = x viewed as [uq, vq] (torch.kron's row-major index order: ΔW[i·vp + k,
j·vq + q] = w1[i, j] · w2[k, q]):

    ΔW x = s · vec(w1 · X · w2ᵀ)

computed as three matrix products on the activations, none of them materialising ΔW or copying a
full-width activation: X @ w2_bᵀ (one mm over every token's groups), w1 applied across the groups
(one bmm, w1 broadcast without a copy), then @ w2_aᵀ fused with the scale and the layer's own output
(addmm). LyCORIS 4.1's plain torch body does the same algebra with two transposed copies of the
full-width activation, a GEMM of inner size uq over it and two full-width multiplies, plus a
per-call kernel-backend choice in Python; on a launch-bound GPU step that cost LoKr 1.5x LoRA's step
(issue 14, docs/PERFORMANCE.md).

Conv layers, weight decomposition (DoRA-style) and anything else this file does not cover keep
LyCORIS's own forward.
"""
from __future__ import annotations

import torch
from torch import nn


def kron_linear(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor | None, w2_a: torch.Tensor | None,
                w2_b: torch.Tensor | None, scale: float, base: torch.Tensor | None = None) -> torch.Tensor:
    """base + scale · kron(w1, w2) applied to x [..., uq·vq] (w2 = w2_a @ w2_b when w2 is None);
    without `base`, the weight change's output alone. Computed in x's dtype (the autocast dtype
    under autocast), as LyCORIS does."""
    dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    up, uq = w1.shape
    groups = x.reshape(-1, x.shape[-1] // uq)  # [n·uq, vq]: each token's input split into uq groups
    n = groups.shape[0] // uq
    w1 = _as(w1, dtype).expand(n, up, uq)  # broadcast over the tokens, no copy
    if w2 is not None:
        z = torch.mm(groups, _as(w2, dtype).t()).view(n, uq, -1)  # [n, uq, vp]
        if base is None:
            return torch.bmm(w1, z).mul_(scale).view(*x.shape[:-1], -1)
        return torch.baddbmm(base.reshape(n, up, -1), w1, z, alpha=scale).view(base.shape)
    z = torch.mm(groups, _as(w2_b, dtype).t()).view(n, uq, -1)  # [n, uq, rank]
    z = torch.bmm(w1, z).view(n * up, -1)  # [n·up, rank]
    w2_a = _as(w2_a, dtype).t()
    if base is None:
        return torch.mm(z, w2_a).mul_(scale).view(*x.shape[:-1], -1)
    return torch.addmm(base.reshape(n * up, -1), z, w2_a, alpha=scale).view(base.shape)


def _as(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return weight if weight.dtype == dtype else weight.to(dtype)


def structured_lokr_class():
    """LyCORIS's LokrModule with the bypass forward of `kron_linear` for the linear layers it covers."""
    from lycoris.modules.lokr import LokrModule

    class StructuredLokr(LokrModule):
        def _structured(self) -> bool:
            return self.module_type == "linear" and not self.wd

        def _w1(self) -> torch.Tensor:
            w1 = self.lokr_w1 if self.use_w1 else self.lokr_w1_a @ self.lokr_w1_b
            # A trained scalar (use_scalar) multiplies the weight change; the default is a constant 1.
            return w1 * self.scalar if isinstance(self.scalar, nn.Parameter) else w1

        def _w2(self) -> tuple:
            if self.use_w2:
                return self.lokr_w2, None, None
            return None, self.lokr_w2_a, self.lokr_w2_b

        def bypass_forward_diff(self, h: torch.Tensor, scale: float = 1) -> torch.Tensor:
            if not self._structured():
                return super().bypass_forward_diff(h, scale)
            return self.drop(kron_linear(h, self._w1(), *self._w2(), scale=self.scale * scale))

        def bypass_forward(self, x: torch.Tensor, scale: float = 1) -> torch.Tensor:
            if not self._structured() or not isinstance(self.drop, nn.Identity):
                return super().bypass_forward(x, scale)
            return kron_linear(x, self._w1(), *self._w2(), scale=self.scale * scale, base=self.org_forward(x))

    return StructuredLokr


_STRUCTURED: type | None = None


def use_structured_forward(modules: list[nn.Module]) -> int:
    """Give each of LyCORIS's LoKr modules the structured forward (in place: parameters, buffers,
    names and the multiplier stay as they are). Returns how many were switched."""
    global _STRUCTURED
    from lycoris.modules.lokr import LokrModule

    if _STRUCTURED is None:
        _STRUCTURED = structured_lokr_class()
    switched = 0
    for module in modules:
        if type(module) is LokrModule:
            module.__class__ = _STRUCTURED
            switched += 1
    return switched
