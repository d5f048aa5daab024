"""End to end on the demo dataset: preprocess its clips with the demo model, then the real `train`
job function (run inline with a JobContext) learns: the fixed-noise loss after 100 steps is below
the loss before training, and the adapter carries the dataset's trigger word."""
from __future__ import annotations

import json

import pytest
import torch

from shared.preprocess_settings import PreprocessSettings
from shared.train_settings import TrainSettings
from tests.conftest import job_context


@pytest.mark.slow
def test_training_on_the_demo_dataset_lowers_the_loss(demo_manager, demo_root, tmp_path):
    from daemon.preprocess.pipeline import run_preprocess
    from daemon.preprocess.tensor_folder import open_tensor_folder
    from daemon.train.batching import FolderSamples
    from daemon.train.objective import validation_loss
    from daemon.train.run import run_training
    from daemon.train.timesteps import TimestepSampler

    dataset = demo_root / "dataset" / "dataset.json"
    if not dataset.is_file():
        pytest.skip("the demo dataset generator is not available")
    tensors = tmp_path / "tensors"
    pre = PreprocessSettings.from_dict({"dataset": str(dataset), "output_dir": str(tensors), "max_duration": 1.0,
                                        "workers": 1})
    run_preprocess(job_context(demo_manager, tmp_path / "pre", "preprocess", pre), pre)

    settings = TrainSettings.from_dict({
        "tensors_dir": str(tensors), "rank": 8, "alpha": 16, "dropout": 0.0, "learning_rate": 3e-3,
        "batch_size": 2, "gradient_accumulation": 1, "scheduler": "constant", "warmup_steps": 0,
        "epochs": 1000, "max_steps": 100, "save_every_epochs": 0, "best_warmup_epochs": 1000, "seed": 1})
    model = demo_manager.get("dit")
    samples = FolderSamples(open_tensor_folder(tensors))
    indices = list(range(len(samples)))
    null = model.null_condition_emb.detach()

    def fixed_loss() -> float:
        return validation_loss(model.decoder, samples, indices, settings, TimestepSampler("model"), null,
                               torch.device("cpu"), torch.float32)

    before = fixed_loss()
    ctx = job_context(demo_manager, tmp_path / "train", "train", settings)
    result = run_training(ctx, settings)
    assert result["outcome"] == "max_steps" and result["global_step"] == 100
    with torch.no_grad():
        from daemon.train.adapters import load_adapter

        adapter = load_adapter(model.decoder, tmp_path / "train" / "final")
        after = fixed_loss()
        adapter.remove()
    assert after < before, (before, after)
    config = json.loads((tmp_path / "train" / "final" / "adapter_config.json").read_text())
    info = json.loads((tmp_path / "train" / "final" / "training_info.json").read_text())
    from daemon.dataset_demo import TRIGGER_WORD

    assert config["trigger_word"] == TRIGGER_WORD and info["model_name"] == "acestep-v15-demo"
    assert abs(fixed_loss() - before) < 1e-9  # the shared model is as it was after the job
