"""The `dataset_scan` job: a folder of songs scanned into `<folder>/dataset.json`, keeping labels.

The labels the folder's dataset.json already has win over the sidecars' (`scan_keeping_labels`);
the save refuses to drop any of them (`save_dataset`'s guard), so a song that vanished with its
labels stops the scan with the loss named instead of losing it. Unreadable files are reported,
and a folder with no readable song at all is an error that lists why each one was refused.
"""
from __future__ import annotations

from pathlib import Path

from daemon.jobs import JobContext
from shared.dataset import save_dataset
from shared.dataset_guard import LabelLossError
from shared.dataset_scan import label_sources, scan_keeping_labels
from shared.errors import DatasetError
from shared.pipeline_settings import DatasetScanSettings
from shared.wording import counted, readable

DATASET_FILE = "dataset.json"
PROBLEMS_NAMED = 5  # files named in the error when nothing could be read


def dataset_file(folder: str | Path) -> Path:
    """Where a scanned folder's dataset is kept: its own dataset.json."""
    return Path(folder).expanduser().resolve() / DATASET_FILE


def run_scan(ctx: JobContext, settings: DatasetScanSettings) -> dict:
    """Scan, keep the known labels, set the trigger word when one is given, save; the result counts."""
    folder = Path(settings.folder).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetScanSettings.field_error("folder", f"{folder} is not a folder")
    sources, unusable = label_sources(folder, None, DATASET_FILE)
    result = scan_keeping_labels(folder, sources, progress=lambda done, total: ctx.progress(done, total, "scanning"))
    problems = unusable + result.problems
    for problem in problems:
        ctx.log(f"{readable(problem.path)}: {readable(problem.reason)}", level="warning")
    dataset = result.dataset
    if not dataset.samples:
        named = "; ".join(f"{readable(p.path)}: {readable(p.reason)}" for p in problems[:PROBLEMS_NAMED])
        more = f" and {len(problems) - PROBLEMS_NAMED} more" if len(problems) > PROBLEMS_NAMED else ""
        raise DatasetError(f"{folder}: no song in this folder could be read" + (f" ({named}{more})" if named else
                                                                               " (it holds no audio file)"))
    if settings.trigger_word.strip():
        dataset.options = dataset.options.replace(trigger_word=settings.trigger_word.strip())
    try:
        saved = save_dataset(dataset, dataset_file(folder))
    except LabelLossError as err:
        raise DatasetError(f"{err} Put the files back, or save the dataset without them on the Dataset page "
                           f"(or `acestep-studio dataset scan {folder} --force`).") from None
    labelled = sum(1 for s in saved.samples if s.labeled)
    ctx.log(f"{dataset_file(folder)}: {counted(len(saved.samples), 'song')} ({labelled} labelled), "
            f"trigger word {saved.options.trigger_word or '(none)'}")
    return {"dataset": str(dataset_file(folder)), "samples": len(saved.samples), "labelled": labelled,
            "trigger_word": saved.options.trigger_word,
            "problems": [{"file": readable(p.path), "problem": readable(p.reason)} for p in problems]}
