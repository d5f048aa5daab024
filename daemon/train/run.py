"""The `train` job's wiring: the tensor folder, the daemon's model, the fingerprint check and the
trigger word, handed to the loop with the JobContext as its reporter.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from daemon.jobs import JobContext
from daemon.preprocess.tensor_folder import TensorFolder, check_fingerprint, open_tensor_folder
from daemon.sample.during_training import TrainingSamples
from daemon.train.batching import FolderSamples
from daemon.train.compile import use_compile_cache
from daemon.train.loop import train
from shared.errors import TrainingError
from shared.tensor_manifest import no_fingerprint_warning
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)


def run_training(ctx: JobContext, settings: TrainSettings) -> dict:
    if not settings.tensors_dir:
        label = TrainSettings.spec("tensors_dir").label  # errors name fields as the pages show them
        raise TrainingError(f"{label}: choose the folder of training tensors (made by preprocessing)")
    folder = open_tensor_folder(settings.tensors_dir)
    from daemon.models.manager import manager_from

    manager = manager_from(ctx.services)
    use_compile_cache(manager.home)
    if settings.checkpoint:
        manager.select(settings.checkpoint)
    fingerprint = manager.fingerprint()
    model_name = manager.selected.name
    matched = check_fingerprint(folder, fingerprint, model_name)  # raises on another model's tensors
    ctx.log(f"training on {model_name} with {len(folder)} samples from {folder.root}")
    info = {
        "tensors_dir": str(folder.root), "model_name": model_name, "model_fingerprint": fingerprint,
        "fingerprint_match": matched if matched else "unknown (legacy folder without a fingerprint)",
        **trigger_info(folder), "notes": [],
    }
    if not matched:  # said in the job's log (the CLI prints it) and the pre-flight, not only the daemon log
        info["notes"].append(no_fingerprint_warning(folder.root))
        ctx.log(info["notes"][-1], level="warning")
    if settings.world_size > 1:  # one process per GPU, each with its own model (launch.py)
        from daemon.train.launch import train_on_ranks

        return train_on_ranks(ctx, settings, manager, folder, info)
    model = manager.get("dit")
    manager.offload("encoder")  # its output is in the tensors: only the decoder needs the device
    samples = TrainingSamples(settings, manager, info)  # every N epochs, sample now, at the end
    with manager.use("decoder"):  # held while training: no unload or checkpoint switch meanwhile
        return train(settings, model, FolderSamples(folder), ctx.run_dir, ctx,
                     should_stop=lambda _step: ctx.stop_requested, info=info, sample_hook=samples)


def trigger_info(folder: TensorFolder) -> dict:
    """The trigger word and its position: from the samples' metadata, the manifest, or the dataset
    file the manifest names (where preprocessing took the prompts from)."""
    manifest = folder.manifest if isinstance(folder.manifest, dict) else {}
    sources: list[dict[str, Any]] = []
    if len(folder):
        sources.append(folder.load(0).get("metadata") or {})
    acestep = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}  # custom_tag
    sources += [manifest, acestep, manifest.get("settings") or {}, _dataset_options(folder, manifest)]
    for source in sources:
        word = source.get("trigger_word") or source.get("custom_tag")
        if word:
            return {"trigger_word": str(word), "tag_position": str(source.get("tag_position") or "prepend")}
    return {"trigger_word": "", "tag_position": "prepend"}


def dataset_options(folder: TensorFolder) -> dict:
    """The options of the dataset the folder was made from (name, genre ratio...), with the trigger
    word and its position as training finds them (an export carries them along)."""
    manifest = folder.manifest if isinstance(folder.manifest, dict) else {}
    return {**_dataset_options(folder, manifest), **trigger_info(folder)}


def _dataset_options(folder: TensorFolder, manifest: dict) -> dict:
    for key in ("dataset_file", "dataset_file_absolute"):
        value = manifest.get(key)
        if not value:
            continue
        path = Path(value) if Path(value).is_absolute() else folder.root / value
        if path.is_file():
            try:
                from shared.dataset import load_dataset

                return load_dataset(path).options.to_dict()
            except Exception as err:  # a moved or edited dataset must not stop training
                log.warning("could not read the dataset %s for the trigger word: %s", path, err)
    return {}
