"""The modules that register commands, job kinds and services (see daemon.registry).

Each feature adds its module here; the server imports them all at start-up. Imports must stay
cheap (no torch at module level), so the daemon is ready at once and loads models lazily.
"""
from __future__ import annotations

import importlib

PLUGIN_MODULES = [
    "daemon.core_commands",
    "daemon.selftest",
    "daemon.models.commands",
    "daemon.preprocess.job",
    "daemon.preprocess.acestep_export",
    "daemon.dataset_jobs",
    "daemon.train.job",
    "daemon.sample.job",
    "daemon.sample.commands",
    "daemon.export.job",
    "daemon.caption.job",
    "daemon.caption.commands",
    "daemon.runs",
    "daemon.pipeline.job",
]


def load_plugins() -> None:
    for name in PLUGIN_MODULES:
        importlib.import_module(name)
