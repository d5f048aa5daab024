"""Side-Step and ace-lora-trainer presets both ways: imported to the right studio settings, exported
back with the mapped fields equal, unmapped keys reported, out-of-range values refused by name."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cli import main
from shared.errors import SettingsError
from shared.preset_formats import FORMATS, SIDESTEP, Fixed, Rename, Unmapped, export_foreign, import_foreign
from shared.presets import list_presets, load_preset

# A Side-Step preset with every key of its flat format (the list), values off the defaults.
SIDESTEP_PRESET = {
    "name": "punchy lokr", "description": "LoKr on self attention", "adapter_type": "lokr", "rank": 32,
    "alpha": 64, "dropout": 0.05, "target_modules_str": "k_proj q_proj v_proj o_proj", "attention_type": "self",
    "target_mlp": True, "bias": "none", "learning_rate": 3e-4, "batch_size": 2, "gradient_accumulation": 3,
    "epochs": 321, "max_steps": 5000, "dataset_repeats": 4, "warmup_steps": 40, "weight_decay": 0.02,
    "max_grad_norm": 0.5, "seed": 9, "optimizer_type": "adamw8bit", "scheduler_type": "cosine_restarts",
    "cfg_ratio": 0.2, "loss_weighting": "min_snr", "snr_gamma": 4.0, "save_every": 25, "save_best": True,
    "save_best_after": 60, "early_stop_patience": 30, "target_loss": 0.05, "log_every": 10,
    "log_heavy_every": 50, "gradient_checkpointing": True, "gradient_checkpointing_ratio": 0.5,
    "offload_encoder": True, "lokr_linear_dim": 24, "lokr_linear_alpha": 48, "lokr_factor": 8,
    "lokr_decompose_both": True, "lokr_use_tucker": True,
}
EXPECTED = {
    "adapter_type": "lokr", "rank": 32, "alpha": 64, "dropout": 0.05, "attention_targets": "self",
    "target_mlp": True, "learning_rate": 3e-4, "batch_size": 2, "gradient_accumulation": 3, "epochs": 321,
    "max_steps": 5000, "dataset_repeats": 4, "warmup_steps": 40, "weight_decay": 0.02, "max_grad_norm": 0.5,
    "seed": 9, "optimizer": "adamw8bit", "scheduler": "cosine_with_restarts", "cfg_dropout": 0.2,
    "loss_weighting": "min_snr", "snr_gamma": 4.0, "save_every_epochs": 25, "best_warmup_epochs": 60,
    "early_stop_patience": 30, "gradient_checkpointing": True, "gradient_checkpointing_ratio": 0.5,
    "lokr_linear_dim": 24, "lokr_linear_alpha": 48, "lokr_factor": 8, "lokr_decompose_both": True,
    "lokr_use_tucker": True,
}


def test_a_sidestep_preset_imports_to_the_right_settings_and_exports_back_equal():
    imported = import_foreign(SIDESTEP_PRESET, source="punchy.json")
    assert imported.format == "sidestep" and imported.name == "punchy lokr"
    settings = imported.settings.to_dict()
    assert {k: settings[k] for k in EXPECTED} == EXPECTED
    assert set(imported.not_carried) == {"target_loss", "log_every", "log_heavy_every"}
    assert imported.unknown == []

    exported, left_out = export_foreign(imported.settings, "sidestep", "punchy lokr", "LoKr on self attention")
    carried_or_fixed = [k for k in SIDESTEP_PRESET if k not in imported.not_carried]
    assert {k: exported[k] for k in carried_or_fixed} == {k: SIDESTEP_PRESET[k] for k in carried_or_fixed} | {
        "target_modules_str": "q_proj k_proj v_proj o_proj"}  # the same set, in the studio's order
    assert any(item.startswith("crop_frames = ") for item in left_out)  # said, not silently dropped
    assert not any(item.startswith("tensors_dir") for item in left_out)


def test_every_key_of_their_format_is_declared_once_and_studio_names_come_from_the_registry():
    for fmt in FORMATS.values():
        fields = fmt.fields()
        assert list(fields) == list(fmt.keys) and len(set(fmt.keys)) == len(fmt.keys)
        for key, rule in fields.items():
            assert isinstance(rule, (Rename, Fixed, Unmapped)), key
    assert SIDESTEP.fields()["rank"] == Rename("rank")  # same name: derived, not spelled out


def test_keys_without_a_counterpart_and_unknown_keys_are_reported_never_dropped():
    data = {**SIDESTEP_PRESET, "adapter_type": "lora", "bias": "lora_only", "save_best": False,
            "target_modules_str": "q_proj v_proj", "shift": 3.0, "fisher_rank": 8}
    imported = import_foreign(data, "sidestep", "x.json")
    assert set(imported.not_carried) >= {"bias", "save_best", "target_modules_str", "shift", "target_loss",
                                         "lokr_linear_dim"}  # LoKr dims of a LoRA preset: said so
    assert "only used for lokr adapters; this one is lora" in imported.not_carried["lokr_factor"][1]
    assert imported.unknown == ["fisher_rank"]
    report = "\n".join(imported.report())
    assert 'bias = "lora_only": the studio never trains biases' in report and "fisher_rank" in report
    assert imported.settings.lokr_linear_dim == load_preset("recommended").settings.lokr_linear_dim


def test_loha_dims_land_in_the_studios_lycoris_settings_and_go_back_as_loha_keys():
    data = {"adapter_type": "loha", "rank": 8, "epochs": 10, "loha_linear_dim": 12, "loha_linear_alpha": 6,
            "loha_factor": 4, "loha_use_tucker": True, "lokr_linear_dim": 99}
    imported = import_foreign(data, "sidestep")
    assert (imported.settings.lokr_linear_dim, imported.settings.lokr_linear_alpha) == (12, 6)
    assert "lokr_linear_dim" in imported.not_carried
    exported, _ = export_foreign(imported.settings, "sidestep")
    assert (exported["loha_linear_dim"], exported["loha_factor"], exported["loha_use_tucker"]) == (12, 4, True)
    assert "lokr_linear_dim" not in exported


@pytest.mark.parametrize("key, value, words", [
    ("rank", 4096, "rank = 4096 cannot be taken as the studio's rank (rank): 4096 is above the maximum 1024"),
    ("cfg_ratio", 1.5, "cfg_ratio = 1.5 cannot be taken as the studio's cfg dropout (cfg_dropout)"),
    ("optimizer_type", "lion", "optimizer_type = \"lion\" cannot be taken as the studio's optimizer"),
    ("adapter_type", "oft", "adapter_type = \"oft\""),
    ("gradient_checkpointing_ratio", 2, "gradient_checkpointing_ratio = 2"),
])
def test_values_out_of_the_studios_range_are_refused_with_the_field_named(key, value, words):
    with pytest.raises(SettingsError, match="Side-Step preset bad.json: ") as err:
        import_foreign({**SIDESTEP_PRESET, key: value}, "sidestep", "bad.json")
    assert words in str(err.value)


def test_an_ace_lora_trainer_preset_imports_and_exports_in_its_own_names():
    data = {"_description": "12 GB", "adapter_type": "lora", "optimizer_type": "adamw8bit",
            "scheduler_type": "cosine", "learning_rate": 1e-4, "batch_size": 1, "gradient_accumulation_steps": 4,
            "max_epochs": 100, "save_every_n_epochs": 20, "warmup_steps": 100, "max_grad_norm": 1.0,
            "gradient_checkpointing": True, "encoder_offloading": True, "torch_compile": False,
            "max_latent_length": 1500, "lora_r": 32, "lora_alpha": 64, "lora_dropout": 0.1,
            "cfg_dropout_prob": 0.15, "loss_weighting": "none", "auto_save_best_after": 200,
            "attention_type": "both", "mixed_precision": "bf16", "model_type": "turbo"}
    imported = import_foreign(data, source="vram_12gb.json")
    s = imported.settings
    assert imported.format == "ace-lora-trainer" and imported.description == "12 GB"
    assert (s.rank, s.alpha, s.dropout, s.epochs, s.save_every_epochs, s.gradient_accumulation) == (32, 64, 0.1, 100,
                                                                                                     20, 4)
    assert (s.cfg_dropout, s.best_warmup_epochs, s.crop_frames, s.precision) == (0.15, 200, 1500, "bf16-mixed")
    assert list(imported.not_carried) == ["model_type"]
    exported, _ = export_foreign(s, "ace-lora-trainer", description="12 GB")
    assert {k: exported[k] for k in data if k != "model_type"} == {k: v for k, v in data.items() if k != "model_type"}


def test_cli_import_as_a_named_preset_then_train_and_export_it(tmp_path, capsys):
    source = tmp_path / "punchy.json"
    source.write_text(json.dumps(SIDESTEP_PRESET))
    home = str(tmp_path / "home")
    assert main(["--home", home, "presets", "import", str(source), "--as", "punchy"]) == 0
    out = capsys.readouterr().out
    assert "Side-Step preset imported as preset 'punchy'" in out and "3 key(s) not carried" in out
    assert "target_loss = 0.05" in out
    assert [p.name for p in list_presets(home=home) if p.source == "user"] == ["punchy"]
    assert main(["--home", home, "--json", "train", "--tensors", str(tmp_path), "--preset", "punchy",
                 "--dry-run"]) == 0
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert {k: settings[k] for k in EXPECTED} == EXPECTED  # the LoKr variant, without asking for it

    assert main(["--home", home, "presets", "import", str(source), "--as", "punchy"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["--home", home, "presets", "import", str(source), "--as", "recommended"]) == 1
    assert "shipped preset" in capsys.readouterr().err

    target = tmp_path / "back.json"
    assert main(["--home", home, "presets", "export", "punchy", "--format", "sidestep", "-o", str(target)]) == 0
    assert "Side-Step has no key for these studio settings" in capsys.readouterr().err
    back = json.loads(target.read_text())
    assert {k: back[k] for k in ("rank", "cfg_ratio", "scheduler_type", "lokr_factor", "dataset_repeats")} == \
        {k: SIDESTEP_PRESET[k] for k in ("rank", "cfg_ratio", "scheduler_type", "lokr_factor", "dataset_repeats")}


def test_cli_exports_a_shipped_preset_and_a_profile(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "presets", "export", "vram_8gb", "--format", "sidestep",
                 "--variant", "lokr"]) == 0
    data = json.loads(capsys.readouterr().out)
    preset = load_preset("vram_8gb", "lokr").settings
    assert (data["name"], data["optimizer_type"], data["lokr_linear_dim"]) == ("vram_8gb", "adamw8bit",
                                                                               preset.lokr_linear_dim)
    profile = tmp_path / "p.json"
    assert main(["profile", "save", str(profile), "--preset", "quick_test", "--set", "seed=5"]) == 0
    capsys.readouterr()
    assert main(["presets", "export", str(profile), "--format", "ace-lora-trainer"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 5 and data["lora_r"] == load_preset("quick_test").settings.rank


def test_the_mapping_in_the_docs_is_the_declared_one():
    from shared.preset_formats import mapping_markdown

    docs = (Path(__file__).resolve().parents[2] / "docs" / "PRESETS.md").read_text()
    section = docs.split("<!-- mapping:start -->\n", 1)[1].split("<!-- mapping:end -->", 1)[0]
    assert section.strip() == mapping_markdown().strip(), "regenerate the mapping section of docs/PRESETS.md"
