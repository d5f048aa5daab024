"""Fixtures for the dashboard pages: training tensors of the demo model, made once per session
with the training tests' helpers (the demo DiT's condition encoder on random inputs)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest



def plotly_traces(at: AppTest) -> dict[str, dict[str, int]]:
    """{chart title: {trace name: number of points}} of every plotly chart on the page."""
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[spec["layout"]["title"]["text"]] = {t["name"]: sum(x is not None for x in t["x"]) for t in spec["data"]}
    return out


@pytest.fixture(scope="session")
def dit_dir(demo_root) -> Path:
    return Path(demo_root) / "checkpoints" / "acestep-v15-demo"


@pytest.fixture(scope="session")
def train_tensors(dit_dir, tmp_path_factory) -> Path:
    """Two short samples of the demo model, as a tensor folder with the model's fingerprint."""
    from daemon.models.checkpoint_files import model_fingerprint
    from tests.train.conftest import encode_samples, load_dit, write_tensor_folder

    samples = encode_samples(load_dit(dit_dir), [24, 31])
    return write_tensor_folder(tmp_path_factory.mktemp("train") / "tensors", samples,
                               fingerprint=model_fingerprint(dit_dir), model_name="acestep-v15-demo")
