"""LoRA and DoRA through PEFT, saved exactly as ACE-Step loads them (ACESTEP_INTERFACE.md section 7).

The output folder holds PEFT's `adapter_config.json` (plus the trigger word and tag position),
`adapter_model.safetensors` (every studio field in its header) and `training_info.json`
(adapters/metadata.py), and loads with `PeftModel.from_pretrained(model.decoder, folder)`.

Training calls the decoder itself (PEFT injects its layers in place), not the PeftModel wrapper,
whose FEATURE_EXTRACTION forward would add `input_ids` arguments the DiT does not take.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file, save_file
from torch import nn

from daemon.train.adapters.metadata import config_fields, header_metadata, write_training_info
from shared.errors import TrainingError

log = logging.getLogger(__name__)

ADAPTER_NAME = "default"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"


class LoraAdapter:
    def __init__(self, rank: int, alpha: int, dropout: float, targets: list[str], use_dora: bool = False) -> None:
        self.kind = "dora" if use_dora else "lora"
        self.rank, self.alpha = rank, alpha
        self.config = LoraConfig(
            r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
            use_dora=use_dora, bias="none", init_lora_weights=True,
        )
        self.peft_model: PeftModel | None = None

    @classmethod
    def from_folder(cls, decoder: nn.Module, folder: Path) -> "LoraAdapter":
        """A saved adapter opened the way ACE-Step opens it (PeftModel.from_pretrained), with the config
        given as PEFT's own fields (the trigger word and tag position there are ours, not PEFT's)."""
        config = json.loads((folder / CONFIG_FILE).read_text())
        adapter = cls(config["r"], config["lora_alpha"], 0.0, list(config["target_modules"]),
                      bool(config.get("use_dora")))
        known = set(LoraConfig.__dataclass_fields__)
        peft_config = LoraConfig.from_peft_type(**{k: v for k, v in config.items() if k in known})
        adapter.peft_model = PeftModel.from_pretrained(decoder, str(folder), adapter_name=ADAPTER_NAME,
                                                       is_trainable=False, config=peft_config)
        return adapter

    def inject(self, decoder: nn.Module) -> nn.Module:
        self.peft_model = get_peft_model(decoder, self.config, adapter_name=ADAPTER_NAME)
        return self.peft_model.get_base_model()

    @property
    def decoder(self) -> nn.Module:
        return self._peft().get_base_model()

    def _peft(self) -> PeftModel:
        if self.peft_model is None:
            raise TrainingError("the LoRA adapter is not injected yet")
        return self.peft_model

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self._peft().named_parameters() if p.requires_grad]

    def to(self, device: torch.device, dtype: torch.dtype) -> None:
        for _, param in self.trainable_parameters():
            param.data = param.data.to(device=device, dtype=dtype)

    def own_modules(self) -> None:
        """None: PEFT's layers live inside the decoder."""
        return None

    def save(self, folder: Path, metadata: dict) -> list[Path]:
        """PEFT's own files with the trigger word and tag position added to the JSON, every studio
        field in the safetensors header and in training_info.json."""
        folder.mkdir(parents=True, exist_ok=True)
        peft_model = self._peft()
        peft_model.peft_config[ADAPTER_NAME].task_type = "FEATURE_EXTRACTION"
        peft_model.save_pretrained(str(folder), selected_adapters=[ADAPTER_NAME], safe_serialization=True)
        config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        config = json.loads(config_path.read_text())
        config.update(config_fields(metadata))
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True, default=str))
        tensors = load_file(str(weights_path))
        save_file(tensors, str(weights_path), metadata=header_metadata(metadata))
        return [config_path, weights_path, write_training_info(folder, metadata)]

    def load(self, folder: Path) -> None:
        """The saved weights into this (injected) adapter; every adapter tensor must be found."""
        from peft.utils import set_peft_model_state_dict

        weights = load_file(str(folder / WEIGHTS_FILE))
        result = set_peft_model_state_dict(self._peft(), weights, adapter_name=ADAPTER_NAME)
        missing = [k for k in result.missing_keys if "lora_" in k]
        if missing:
            raise TrainingError(f"{folder / WEIGHTS_FILE}: adapter weights missing for {missing[:3]}...")

    def remove(self) -> None:
        """Take the LoRA layers out again, leaving the decoder's own modules in place."""
        if self.peft_model is not None:
            self.peft_model.unload()
            self.peft_model = None

    def merge(self, strength: float) -> None:
        """W + (alpha / r) x strength x B @ A (DoRA: PEFT's merge with its magnitude) into each target."""
        self.set_strength(strength)
        self._peft().merge_and_unload(safe_merge=True)
        self.peft_model = None

    def set_strength(self, strength: float) -> None:
        """Scale as ACE-Step does: scaling = (alpha / r) * strength on every LoRA layer."""
        for module in self._peft().modules():
            if isinstance(module, LoraLayer) and ADAPTER_NAME in module.scaling:
                r, alpha = module.r[ADAPTER_NAME], module.lora_alpha[ADAPTER_NAME]
                module.scaling[ADAPTER_NAME] = (alpha / r) * strength
