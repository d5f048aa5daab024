"""LoKr and LoHa through LyCORIS, saved in the LyCORIS form ACE-Step tools load
(`lokr_weights.safetensors` + `lokr_config.json`; `loha_*` for LoHa).

ACE-Step's LoKr loader reads the hyper-parameters from a `lokr_config` JSON string in the weights
file's safetensors metadata (its own saver writes it there) and rebuilds the LyCORIS network from
it; without that entry it assumes linear_dim 64, alpha 128, factor -1 and, loading non-strictly, an
adapter of other shapes silently does nothing. So the header carries `lokr_config` with every key
ACE-Step's LoKRConfig reads (docs/ADAPTER_FORMATS.md).

LyCORIS picks its targets from class attributes of LycorisNetwork (global state), so they are set
under a lock to this adapter's exact module names right before the network is built.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from daemon.train.adapters import matching_modules
from daemon.train.adapters.metadata import config_fields, header_metadata, write_training_info
from shared.errors import TrainingError
from shared.train_settings import LYCORIS_TYPES

log = logging.getLogger(__name__)

_PRESET_LOCK = threading.Lock()


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
        logging.getLogger("LyCORIS").setLevel(logging.WARNING)  # it logs every construction at INFO
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
        self.network.apply_to()
        self.network.requires_grad_(True)
        self.decoder = decoder
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

    def set_strength(self, strength: float) -> None:
        self._net().set_multiplier(strength)
