"""A LoKr loader that does what ACE-Step 1.5's does, run in a fresh process (LyCORIS keeps its
target presets in class attributes, so a process that already built a studio network would not see
the state ACE-Step starts from).

ACE-Step's loader (acestep/core/generation/handler/lora/lifecycle.py, `_load_lokr_config` and
`_load_lokr_adapter`): read the `lokr_config` JSON string from the weights file's safetensors
metadata, keep the keys its LoKRConfig has (defaults otherwise: linear_dim 64, linear_alpha 128,
factor -1, the flags false, targets q/k/v/o), set LycorisNetwork's preset `target_name` to the target
modules, `create_lycoris(decoder, 1.0, linear_dim=..., linear_alpha=..., algo="lokr", factor=...,
decompose_both=..., use_tucker=..., use_scalar=..., full_matrix=..., bypass_mode=..., rs_lora=...,
unbalanced_factorization=...)`, `apply_to()`, then `load_weights` (non-strict).

    python acestep_lokr_loader.py DIT_FOLDER INPUTS.pt OUT.pt ADAPTER_FOLDER...

For each adapter folder OUT.pt gets the decoder's output on the inputs, the keys the file had, and
the missing and unexpected keys of the load.
"""
from __future__ import annotations

import copy
import json
import sys

import torch

LOKR_CONFIG_DEFAULTS = {
    "linear_dim": 64, "linear_alpha": 128, "factor": -1, "decompose_both": False, "use_tucker": False,
    "use_scalar": False, "weight_decompose": False, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "full_matrix": False, "bypass_mode": False, "rs_lora": False, "unbalanced_factorization": False,
}


def read_lokr_config(weights: str) -> dict:
    from safetensors import safe_open

    with safe_open(weights, framework="pt") as handle:
        raw = (handle.metadata() or {}).get("lokr_config")
    parsed = json.loads(raw) if raw else {}
    return {**LOKR_CONFIG_DEFAULTS, **{k: v for k, v in parsed.items() if k in LOKR_CONFIG_DEFAULTS}}


def load_like_acestep(decoder, weights: str) -> dict:
    from lycoris import LycorisNetwork, create_lycoris

    config = read_lokr_config(weights)
    LycorisNetwork.apply_preset({"unet_target_name": config["target_modules"],
                                 "target_name": config["target_modules"]})
    network = create_lycoris(
        decoder, 1.0, linear_dim=config["linear_dim"], linear_alpha=config["linear_alpha"], algo="lokr",
        factor=config["factor"], decompose_both=config["decompose_both"], use_tucker=config["use_tucker"],
        use_scalar=config["use_scalar"], full_matrix=config["full_matrix"], bypass_mode=config["bypass_mode"],
        rs_lora=config["rs_lora"], unbalanced_factorization=config["unbalanced_factorization"],
    )
    network.apply_to()
    report = network.load_weights(weights)
    return {"missing": list(report.get("missing keys", [])), "unexpected": list(report.get("unexpected keys", [])),
            "wrapped": [lora.lora_name for lora in network.loras]}


def main(dit: str, inputs_path: str, out_path: str, *folders: str) -> None:
    from safetensors import safe_open
    from transformers import AutoModel

    inputs = torch.load(inputs_path, weights_only=True)
    loaded = AutoModel.from_pretrained(dit, trust_remote_code=True, dtype=torch.float32).eval()
    results = {}
    for folder in folders:
        model = copy.deepcopy(loaded)  # a fresh decoder per adapter, as a fresh ACE-Step session has
        weights = f"{folder}/lokr_weights.safetensors"
        report = load_like_acestep(model.decoder, weights)
        with safe_open(weights, framework="pt") as handle:
            report["file_keys"] = list(handle.keys())
        with torch.no_grad():
            report["output"] = model.decoder(**inputs)[0]
        results[folder] = report
    torch.save(results, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:])
