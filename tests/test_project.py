"""What the project says about itself: its packaging metadata, and help texts that name real verbs."""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

from shared.cli import build_parser
from shared.settings_catalog import GROUPS, group

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_reads_without_a_deprecation_warning():
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # setuptools deprecates the license table (SPDX string instead)
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.metadata.license_expression == "Apache-2.0"


def test_every_word_a_setting_quotes_is_a_setting_a_choice_or_a_verb():
    specs = [spec for name in GROUPS for spec in group(name).specs()]
    names = {spec.name for spec in specs}
    verbs = {verb for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
             for verb in action.choices}
    unknown = [(spec.name, word) for spec in specs for word in re.findall(r"`([a-z][a-z0-9_]*)`", spec.help)
               if word not in names | verbs and word not in map(str, spec.choices or ())]
    assert unknown == []
