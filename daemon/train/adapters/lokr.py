"""LoKr and LoHa through LyCORIS, saved in the LyCORIS form ACE-Step tools load
(`lokr_weights.safetensors` + `lokr_config.json`; `loha_*` for LoHa).

ACE-Step's LoKr loader reads the hyper-parameters from a `lokr_config` JSON string in the weights
file's safetensors metadata (its own saver writes it there) and rebuilds the LyCORIS network from
it; without that entry it assumes linear_dim 64, alpha 128, factor -1 and, loading non-strictly, an
adapter of other shapes silently does nothing. So the header carries `lokr_config` with every key
ACE-Step's LoKRConfig reads (docs/ADAPTER_FORMATS.md).

LyCORIS picks its targets from class attributes of LycorisNetwork (global state), so they are set
under a lock to this adapter's exact module names right before the network is built.

Speed: LyCORIS chooses a kernel backend per call; on CUDA with Triton that is its fused kernels,
JIT-compiled and timed (six candidates per shape) at the first step: the tens of seconds a LoKr run
spent beyond LoRA's on the full-size DiT (issue 14: 62.7 s against 7 s for the same steps). Its
plain torch body has no warm-up, and under our own torch.compile LyCORIS uses that body anyway, so
the studio pins it (a backend set in LYCORIS_KERNEL_BACKEND by the user is kept). LoKr's linear
layers then run the structured Kronecker forward of kron.py instead of that body (the same weights,
without its full-width copies).
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from daemon.train.adapters import matching_modules
from daemon.train.adapters.kron import use_structured_forward
from daemon.train.adapters.metadata import config_fields, header_metadata, write_training_info
from shared.errors import TrainingError
from shared.train_settings import LYCORIS_TYPES

log = logging.getLogger(__name__)

_PRESET_LOCK = threading.Lock()
KERNEL_BACKEND_ENV = "LYCORIS_KERNEL_BACKEND"
KERNEL_BACKEND = "torch"


def weights_file(algo: str) -> str:
    return f"{algo}_weights.safetensors"


def config_file(algo: str) -> str:
    return f"{algo}_config.json"


class LycorisAdapter:
    def __init__(self, algo: str, linear_dim: int, linear_alpha: int, factor: int, decompose_both: bool,
                 use_tucker: bool, dropout: float, targets: list[str]) -> None:
        if algo not in LYCORIS_TYPES:
            raise TrainingError(f"LyCORIS algo must be lokr or loha, got {algo!r}")
        self.kind = algo
        self.config = {
            "algo": algo, "linear_dim": linear_dim, "linear_alpha": linear_alpha, "factor": factor,
            "decompose_both": decompose_both, "use_tucker": use_tucker, "dropout": dropout,
            "target_modules": list(targets),
        }
        self.network = None
        self.decoder: nn.Module | None = None  # the decoder it is injected into
        self.notes: list[str] = []  # plain-words remarks for the pre-flight report

    def acestep_config(self) -> dict:
        """The `lokr_config` ACE-Step reads: its LoKRConfig fields, as this adapter was built.

        The flags the studio never turns on are written out too (their LyCORIS defaults), so a
        change of ACE-Step's defaults cannot change the network it rebuilds. `bypass_mode` only
        decides how the forward pass is computed, not the weights: inference may merge."""
        return {
            "algo": self.kind, "linear_dim": self.config["linear_dim"], "linear_alpha": self.config["linear_alpha"],
            "factor": self.config["factor"], "decompose_both": self.config["decompose_both"],
            "use_tucker": self.config["use_tucker"], "use_scalar": False, "weight_decompose": False,
            "full_matrix": False, "bypass_mode": False, "rs_lora": False, "unbalanced_factorization": False,
            "target_modules": list(self.config["target_modules"]),
        }

    @classmethod
    def from_folder(cls, decoder: nn.Module, folder: Path) -> "LycorisAdapter":
        """A saved LoKr/LoHa rebuilt from its config and loaded onto `decoder`."""
        for algo in LYCORIS_TYPES:
            if (folder / config_file(algo)).is_file():
                config = json.loads((folder / config_file(algo)).read_text())
                break
        else:
            raise TrainingError(f"{folder}: no adapter_config.json, lokr_config.json or loha_config.json")
        adapter = cls(config["algo"], config["linear_dim"], config["linear_alpha"], config["factor"],
                      config["decompose_both"], config["use_tucker"], 0.0, config["target_modules"])
        adapter.inject(decoder)
        adapter.load(folder)
        weight = next(iter(decoder.parameters()))
        adapter.to(weight.device, weight.dtype)
        return adapter

    def inject(self, decoder: nn.Module) -> nn.Module:
        from lycoris import LycorisNetwork

        names = matching_modules(decoder, self.config["target_modules"])
        os.environ.setdefault(KERNEL_BACKEND_ENV, KERNEL_BACKEND)
        # It logs every construction at INFO, and "full matrix mode" once per shape: full_matrix_note
        # says that in the pre-flight report instead, in words.
        logging.getLogger("LyCORIS").setLevel(logging.ERROR)
        with _PRESET_LOCK:
            LycorisNetwork.apply_preset({
                "enable_conv": False, "target_module": [], "target_name": names, "module_algo_map": {},
                "name_algo_map": {}, "lora_prefix": "lycoris", "use_fnmatch": True, "exclude_name": [],
            })
            self.network = LycorisNetwork(
                decoder, multiplier=1.0, lora_dim=self.config["linear_dim"],
                alpha=self.config["linear_alpha"], dropout=self.config["dropout"],
                network_module=self.config["algo"], factor=self.config["factor"],
                decompose_both=self.config["decompose_both"], use_tucker=self.config["use_tucker"],
                warn_on_unmatched=False,
                # Bypass: apply the factors to the activations instead of rebuilding each full weight
                # every step (measured 10-25% faster per step; the saved weights are the same).
                bypass_mode=True,
            )
        if len(self.network.loras) != len(names):
            raise TrainingError(f"LyCORIS wrapped {len(self.network.loras)} of {len(names)} target modules")
        use_structured_forward(self.network.loras)
        self.network.apply_to()
        self.network.requires_grad_(True)
        self.decoder = decoder
        note = full_matrix_note(self.kind, self.network.loras, self.config)
        self.notes = [note] if note else []
        return decoder

    def _net(self):
        if self.network is None:
            raise TrainingError(f"the {self.kind} adapter is not injected yet")
        return self.network

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self._net().named_parameters() if p.requires_grad]

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        # LyCORIS builds its modules on the CPU; left there, training crawls (SEED_CHANGELOG trap).
        self._net().to(device=device, dtype=dtype)

    def own_modules(self) -> nn.Module:
        """The LyCORIS network: it patches the decoder's modules but is not a child of the decoder."""
        return self._net()

    def save(self, folder: Path, metadata: dict) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / weights_file(self.kind)
        config = folder / config_file(self.kind)
        hyper = self.acestep_config()
        # As ACE-Step's own saver: algo and format at the top, the hyper-parameters as one JSON string.
        header = {**header_metadata(metadata), "algo": self.kind, "format": "lycoris",
                  f"{self.kind}_config": json.dumps(hyper, sort_keys=True)}
        self._net().save_weights(str(weights), None, header)
        # The same keys again: ace-lora-trainer reads this file, not the header.
        config.write_text(json.dumps({**hyper, **config_fields(metadata)}, indent=2, sort_keys=True))
        return [config, weights, write_training_info(folder, metadata)]

    def load(self, folder: Path) -> None:
        state = load_file(str(folder / weights_file(self.kind)))
        missing, unexpected = self._net().load_state_dict(state, strict=False)
        if missing or unexpected:
            raise TrainingError(
                f"{folder / weights_file(self.kind)} does not fit this adapter: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}"
            )

    def remove(self) -> None:
        """Give the wrapped modules their own forward back."""
        if self.network is not None:
            self.network.restore()
            self.network = None

    def merge(self, strength: float) -> None:
        """W + the weight difference each module plays at `strength`, then the modules' own forward back.

        The difference is measured through the module's forward on an identity input, so the merged
        weights are exactly what the adapter plays at run time (LyCORIS's own merge_to scales LoKr by
        alpha / dim twice in the installed version: merged models would play at double strength)."""
        network = self._net()
        network.set_multiplier(strength)
        network.eval()
        deltas = []
        with torch.no_grad():
            for module in network.loras:
                target = module.org_module[0]
                probe = torch.eye(target.in_features, dtype=target.weight.dtype, device=target.weight.device)
                deltas.append((target, (target(probe) - module.org_forward(probe)).T))
            network.restore()
            for target, delta in deltas:
                target.weight += delta
        self.network = None

    def set_strength(self, strength: float) -> None:
        self._net().set_multiplier(strength)


def full_matrix_note(kind: str, modules: list, config: dict) -> str | None:
    """What LyCORIS's "lora_dim is too large ..., using full matrix mode" means for this run, in
    words, with the factors that give a real low-rank Kronecker decomposition; None when every
    wrapped layer is decomposed as asked."""
    if kind != "lokr":
        return None
    full = [m for m in modules if getattr(m, "use_w2", False)]
    if not full:
        return None
    dim, factor = config["linear_dim"], config["factor"]
    width = max(max(m.shape[:2]) for m in full)
    sizes = ", ".join(f"factor {f}: linear_dim below {limit}" for f, limit in low_rank_limits(width))
    return (f"LoKr: linear_dim {dim} is too large for {len(full)} of {len(modules)} layers at factor {factor} "
            f"(LyCORIS \"full matrix mode\"): each layer's weight change is kron(A, B), and with "
            f"{width} split as {' x '.join(map(str, factorization_of(width, factor)))} the larger factor B is "
            f"too small for a rank-{dim} decomposition, so B is trained as a full matrix and linear_dim and "
            f"linear_alpha have no effect. For a real decomposition at width {width}: {sizes}.")


def factorization_of(width: int, factor: int) -> tuple[int, int]:
    from lycoris.functional import factorization

    return factorization(width, factor)


def low_rank_limits(width: int, factors: tuple[int, ...] = (4, 8, 16)) -> list[tuple[int, int]]:
    """(factor, the linear_dim below which B is low-rank) for a square layer of `width`."""
    return [(f, factorization_of(width, f)[1] // 2) for f in factors if width % f == 0]
