"""The settings registry: one declaration drives validation, CLI flags and docs."""
from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass

import pytest

from shared.errors import SettingsError, TrainingError
from shared.settings import SettingsGroup, setting
from shared.settings_catalog import GROUPS
from shared.settings_catalog import group as settings_group


@dataclass
class Example(SettingsGroup):
    group_name = "example"
    rank: int = setting(16, "LoRA rank.", section="Adapter", minimum=1, maximum=512)
    lr: float = setting(1e-4, "Learning rate.", section="Optimizer", label="Learning rate")
    optimizer: str = setting("adamw", "Optimizer.", section="Optimizer", choices=("adamw", "prodigy"))
    compile: bool = setting(False, "torch.compile.", importance="advanced", label="Use torch.compile")
    targets: list[str] = setting(["q_proj", "v_proj"], "Modules.", section="Adapter")
    seed: int | None = setting(None, "Seed.")

    def validate(self) -> None:
        if self.optimizer == "prodigy" and self.lr < 0.1:
            raise SettingsError(f"example.lr: Prodigy expects 1.0 (example.rank stays {self.rank})")


def test_defaults_round_trip():
    s = Example()
    assert Example.from_dict(s.to_dict()) == s
    assert s.targets is not Example().targets  # no shared mutable default


def test_validation_names_the_field_by_its_label():
    with pytest.raises(SettingsError, match=r"^Rank: expected int, got 'big'") as caught:
        Example.from_dict({"rank": "big"})
    assert caught.value.setting == "example.rank"
    with pytest.raises(SettingsError, match=r"^Rank: 0 is below the minimum 1"):
        Example.from_dict({"rank": 0})
    with pytest.raises(SettingsError, match=r"^Optimizer: 'sgd' is not one of"):
        Example.from_dict({"optimizer": "sgd"})
    with pytest.raises(SettingsError, match="unknown setting.*colour"):
        Example.from_dict({"colour": 1})
    with pytest.raises(SettingsError, match=r"^Use torch\.compile: expected bool"):
        Example.from_dict({"compile": 1})
    with pytest.raises(SettingsError, match=r"^Rank: expected int"):
        Example.from_dict({"rank": True})
    with pytest.raises(SettingsError, match=r"^Learning rate: expected float, got 'fast'"):
        Example().with_overrides(["lr=fast"])
    assert Example.from_dict({"lr": 1}).lr == 1.0
    assert Example.from_dict({"colour": 1}, strict=False) == Example()


def test_cross_field_errors_name_labels_not_keys():
    with pytest.raises(SettingsError) as caught:
        Example.from_dict({"optimizer": "prodigy"})
    assert str(caught.value) == "Learning rate: Prodigy expects 1.0 (Rank stays 16)"
    assert caught.value.setting == "example.lr"


def test_preprocess_paths_are_required_by_label():
    from shared.preprocess_settings import PreprocessSettings

    with pytest.raises(SettingsError, match="^Dataset file: a path is required$"):
        PreprocessSettings().require_paths()


@pytest.mark.parametrize("group_name", sorted(GROUPS))
def test_every_float_setting_refuses_nan_and_infinity(group_name):
    group = settings_group(group_name)
    floats = [s for s in group.specs() if s.type is float]
    for spec in floats:
        for bad in (math.nan, math.inf, -math.inf):
            value = [bad] if spec.is_list else bad
            with pytest.raises(SettingsError, match=rf"^{re.escape(spec.label)}: expected a finite number") as err:
                group.from_dict({spec.name: value})
            assert err.value.setting == f"{group.group_name}.{spec.name}"
        with pytest.raises(SettingsError, match=rf"^{re.escape(spec.label)}: expected a finite number"):
            group().with_overrides([f"{spec.name}=nan"])


def test_the_training_floats_the_issue_named_refuse_nan():
    from shared.train_settings import TrainSettings

    for pair in ("learning_rate=nan", "cfg_dropout=NaN", "max_grad_norm=inf"):
        label = TrainSettings.spec(pair.split("=")[0]).label
        with pytest.raises(SettingsError, match=rf"^{re.escape(label)}: expected a finite number"):
            TrainSettings().with_overrides([pair])


def test_overrides_parse_by_type():
    s = Example().with_overrides(["rank=32", "lr=2e-4", "compile=yes", "targets=q_proj,k_proj", "seed=none"])
    assert (s.rank, s.lr, s.compile, s.targets, s.seed) == (32, 2e-4, True, ["q_proj", "k_proj"], None)
    with pytest.raises(SettingsError, match="unknown setting 'nope'"):
        Example().with_overrides(["nope=1"])


def test_cli_flags_are_derived():
    parser = argparse.ArgumentParser()
    Example.add_arguments(parser)
    args = parser.parse_args(["--rank", "8", "--compile", "--targets", "o_proj"])
    s = Example.from_args(args, base={"lr": 3e-4})
    assert (s.rank, s.compile, s.targets, s.lr) == (8, True, ["o_proj"], 3e-4)
    with pytest.raises(SystemExit):
        parser.parse_args(["--optimizer", "sgd"])


def test_docs_list_every_setting_by_section():
    docs = Example.markdown()
    for name in Example.names():
        assert f"`{name}`" in docs
    assert "### Adapter" in docs and "### Optimizer" in docs


def test_settings_reference_is_current():
    """docs/SETTINGS.md is derived from the declarations; regenerate it when a setting changes."""
    from pathlib import Path

    from shared.settings_catalog import all_markdown

    docs = Path(__file__).resolve().parents[1] / "docs" / "SETTINGS.md"
    assert docs.read_text() == all_markdown() + "\n", (
        "docs/SETTINGS.md is stale: run `acestep-studio settings --markdown > docs/SETTINGS.md`")


def test_one_adapter_family_rule_for_settings_presets_and_resume():
    from daemon.train.state import check_resume_settings
    from shared.presets import variant_for
    from shared.train_settings import ADAPTER_TYPES, TrainSettings, adapter_family

    families = {t: adapter_family(t) for t in ADAPTER_TYPES}
    assert families == {"lora": "peft", "dora": "peft", "lokr": "lycoris", "loha": "lycoris"}
    for adapter_type, family in families.items():
        assert TrainSettings(adapter_type=adapter_type).is_lycoris == (family == "lycoris")
        assert variant_for(adapter_type) == ("lokr" if family == "lycoris" else "lora")
    loha = TrainSettings(adapter_type="loha").to_dict()
    check_resume_settings(loha, {**loha, "rank": 8}, strict=False)  # LoRA's rank is no LoHa shape
    with pytest.raises(TrainingError, match="lokr_linear_dim"):
        check_resume_settings(loha, {**loha, "lokr_linear_dim": 8}, strict=False)
