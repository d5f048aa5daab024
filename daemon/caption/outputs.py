"""What a caption run leaves: results.json and captions.csv in its run folder, and the dataset updated.

The CSV has the label columns of the dataset CSV (`shared.dataset_csv`), written by its own row
export, so `dataset import-csv` reads it back unchanged; columns a caption run does not produce
(prompt override, trigger override, labelled) are left out, so importing it never clears them.
A dataset file is reloaded just before it is written (edits made meanwhile are kept), labels the
user set are kept unless `overwrite_labels`, and the save goes through `save_dataset` (refuses to
drop labels unless `overwrite_labels` asked for it, keeps a `.bak` either way).
"""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from daemon.caption.merge import LABELS, merge
from shared.atomic import write_text_atomic
from shared.caption_settings import CaptionSettings
from shared.dataset import Dataset, Sample, load_dataset, save_dataset
from shared.dataset_csv import export_rows
from shared.errors import DatasetError
from shared.wording import counted, readable

log = logging.getLogger(__name__)

CSV_NAME = "captions.csv"
RESULTS_NAME = "results.json"
CSV_COLUMNS = ("file", "caption", "genre", "lyrics", "bpm", "keyscale", "timesignature", "language", "instrumental")


def finish(ctx: Any, settings: CaptionSettings, source: Any) -> dict:
    """Write the run's outputs and update the dataset; returns the job's summary."""
    from daemon.caption.batch import settle

    for record in source.records:
        if record.done and not record.labels:
            settle(record, settings, source.trigger_word)
    finished = [r for r in source.records if r.done and not r.error]
    where = Path(settings.source).expanduser().absolute()
    base = source.dataset.audio_folder() if source.dataset is not None else where
    ctx.write_json(RESULTS_NAME, {"source": str(where),
                                  "dataset": str(source.dataset_file) if source.dataset_file else None,
                                  "folder": str(base), "files": [r.to_dict() for r in source.records]})
    text = csv_text(finished)
    write_text_atomic(ctx.run_dir / CSV_NAME, text)
    summary: dict[str, Any] = {
        "files": len(source.records), "captioned": len(finished),
        "failed": [{"file": readable(r.file), "error": r.error} for r in source.records if r.error],
        "skipped": [{"file": readable(p.path), "reason": p.reason} for p in source.skipped],
        "kept": sum(len(r.kept) for r in finished), "results": RESULTS_NAME, "csv": str(ctx.run_dir / CSV_NAME),
        "demo": any((r.caption or {}).get("demo") or (r.lyrics or {}).get("demo") for r in finished),
        "dataset": None,
    }
    if settings.csv_file:
        path = Path(settings.csv_file).expanduser().absolute()
        try:
            write_text_atomic(path, text)
            summary["csv_file"] = str(path)
        except OSError as err:
            ctx.log(f"{path}: the CSV cannot be written ({err})", level="warning")
    if source.dataset_file is not None and settings.update_dataset and finished:
        summary["dataset"] = update_dataset(ctx, source.dataset_file, finished, settings.overwrite_labels)
    ctx.log(f"captioned {counted(len(finished), 'file')} of {len(source.records)}"
            + (f", {counted(len(summary['failed']), 'failure')}" if summary["failed"] else ""))
    return summary


def csv_text(records: list) -> str:
    """The CSV of the records' labels (file = path inside the folder), as the dataset import reads it."""
    dataset = Dataset(root=Path("."), samples=[Sample(audio=r.file, **r.labels, labeled=True) for r in records])
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_rows(dataset))
    return buffer.getvalue()


def update_dataset(ctx: Any, path: Path, records: list, overwrite: bool) -> dict:
    """Apply the records' proposals to the dataset file at `path` (reloaded now) and save it."""
    try:
        dataset = load_dataset(path)
    except DatasetError as err:
        ctx.log(f"the dataset was not updated: {err}", level="warning")
        return {"file": str(path), "updated": 0, "error": str(err)}
    by_key = {dataset.key(s): s for s in dataset.samples}
    updated, missing = 0, []
    for record in records:
        sample = by_key.get(record.file)
        if sample is None:
            missing.append(record.file)
            continue
        existing = {name: getattr(sample, name) for name in LABELS}
        labels, _ = merge(existing, record.proposed, record.written, overwrite=overwrite)
        if labels != existing:
            for name, value in labels.items():
                setattr(sample, name, value)
            sample.labeled = sample.labeled or bool(sample.caption or sample.genre)
            updated += 1
    if not updated:
        ctx.log(f"{path}: no sample changed; the file is left as it was")
        return {"file": str(path), "updated": 0, "missing": missing}
    try:  # asked to overwrite, a label emptied (an instrumental mark dropped) is meant; the .bak keeps it
        save_dataset(dataset, path, force=overwrite)
    except DatasetError as err:
        ctx.log(f"the dataset was not updated: {err}", level="warning")
        return {"file": str(path), "updated": 0, "error": str(err)}
    if missing:
        ctx.log(f"{counted(len(missing), 'file')} left the dataset while it was captioned: "
                f"{', '.join(readable(m) for m in missing[:4])}", level="warning")
    ctx.log(f"{path}: {counted(updated, 'sample')} updated (the old file is kept as {path.name}.bak)")
    return {"file": str(path), "updated": updated, "missing": missing}
