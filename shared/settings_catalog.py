"""Every settings group by name, imported on demand: the source of `acestep-studio settings` and
docs/SETTINGS.md. A feature that declares a new group adds one line here."""
from __future__ import annotations

import importlib

from shared.errors import SettingsError
from shared.settings import SettingsGroup

GROUPS = {
    "daemon": "shared.config:DaemonSettings",
    "dataset": "shared.dataset:DatasetOptions",
    "split_audio": "shared.split_settings:SplitAudioSettings",
    "preprocess": "shared.preprocess_settings:PreprocessSettings",
    "train": "shared.train_settings:TrainSettings",
    "export_tensors": "shared.tensor_export:TensorExportSettings",
    "generate": "shared.sample_settings:GenerateSettings",
    "merge": "shared.export_settings:MergeSettings",
    "export": "shared.export_settings:ExportSettings",
    "caption": "shared.caption_settings:CaptionSettings",
    "pipeline": "shared.pipeline_settings:PipelineSettings",
    "dataset_scan": "shared.pipeline_settings:DatasetScanSettings",
    # job kinds whose settings live with their job (importing them loads no model)
    "selftest": "daemon.selftest:SelftestSettings",
    "load": "daemon.models.commands:LoadSettings",
}


def group(name: str) -> type[SettingsGroup]:
    try:
        module, cls = GROUPS[name].split(":")
    except KeyError:
        raise SettingsError(f"unknown settings group {name!r}; known: {', '.join(GROUPS)}") from None
    return getattr(importlib.import_module(module), cls)


def all_markdown() -> str:
    """The settings reference, one section per group, derived from the declarations."""
    head = ["# Settings reference", "",
            "Generated from the declarations in the code (`acestep-studio settings --markdown`);",
            "do not edit by hand.", ""]
    return "\n".join(head + [group(name).markdown() for name in GROUPS])
