"""Commands that let a client review a caption run without reading the daemon's disk:

- `caption_results` {run_id} -> {run_id, source, dataset, files: [record...]}: every file's signal
  analysis, answers, proposed and current labels, errors (from results.json, or while the run is
  going, from its results.jsonl: the newest line per file).
- `caption_audio` {run_id, file, offset?} -> {data (base64), size, offset, next_offset, name}: the
  bytes of a file the run captioned, in chunks; only files listed in that run, by their name in it.
- `caption_accept` {run_id, files: {file: {label: value}}, dataset?, overwrite?}: reviewed labels
  into the sidecars and into the dataset (the run's, or the file named). A label someone changed
  since the run is kept unless `overwrite`; the dataset is saved with its guard and a .bak.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from daemon.caption.batch import RESULTS_LOG
from daemon.caption.merge import LABELS
from daemon.caption.outputs import RESULTS_NAME
from daemon.caption.sidecar import labels_on_disk, read_block, write_sidecar
from daemon.registry import command
from daemon.sample.commands import CHUNK_BYTES, run_folder
from shared.dataset import load_dataset, save_dataset
from shared.errors import DatasetError, ProtocolError
from shared.labels import FIELD_PARSERS, LabelError
from shared.wording import counted

LABEL_NAMES = {"caption": "caption", "genre": "genre", "lyrics": "lyrics", "bpm": "BPM", "keyscale": "key",
               "timesignature": "time signature", "language": "language", "is_instrumental": "instrumental"}


def read_results(run_dir: Path) -> dict:
    """The run's results: results.json when it finished, else the newest line per file of results.jsonl."""
    final = run_dir / RESULTS_NAME
    if final.is_file():
        return json.loads(final.read_text(encoding="utf-8"))
    settings = _settings(run_dir)
    files: dict[str, dict] = {}
    log = run_dir / RESULTS_LOG
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line a kill cut short
            files[record["file"]] = record
    return {"source": settings.get("source"), "dataset": None, "files": list(files.values()), "partial": True}


def _settings(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "settings.json").read_text(encoding="utf-8")).get("settings", {})
    except (OSError, ValueError):
        return {}


def _caption_run(ctx: Any, content: dict) -> Path:
    folder = run_folder(ctx, content)
    try:
        kind = json.loads((folder / "settings.json").read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError):
        kind = None
    if kind != "caption":
        raise ProtocolError(f"run {folder.name} is not a caption run")
    return folder


@command("caption_results")
def caption_results(ctx: Any, content: dict) -> dict:
    folder = _caption_run(ctx, content)
    return {"run_id": folder.name, **read_results(folder)}


def _record(folder: Path, file: Any) -> dict:
    if not isinstance(file, str) or not file:
        raise ProtocolError(f"content.file: expected a file name of the run, got {file!r}")
    for record in read_results(folder)["files"]:
        if record["file"] == file:
            return record
    raise ProtocolError(f"content.file: run {folder.name} did not caption {file!r}")


@command("caption_audio")
def caption_audio(ctx: Any, content: dict) -> dict:
    folder = _caption_run(ctx, content)
    path = Path(_record(folder, content.get("file"))["path"])
    offset = content.get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ProtocolError(f"content.offset: expected an integer >= 0, got {offset!r}")
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(offset)
            data = handle.read(CHUNK_BYTES)
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err.strerror or err})") from None
    end = offset + len(data)
    return {"data": base64.b64encode(data).decode("ascii"), "size": size, "offset": offset,
            "next_offset": end if end < size else None, "name": path.name}


@command("caption_accept", state_changing=True)
def caption_accept(ctx: Any, content: dict) -> dict:
    folder = _caption_run(ctx, content)
    files = content.get("files")
    if not isinstance(files, dict) or not files:
        raise ProtocolError("content.files: expected {file: {label: value}} for at least one file")
    overwrite = bool(content.get("overwrite", False))
    results = read_results(folder)
    records = {r["file"]: r for r in results["files"]}
    chosen = {}
    for file, values in files.items():
        if file not in records:
            raise ProtocolError(f"content.files: run {folder.name} did not caption {file!r}")
        chosen[file] = _parsed(file, values)
    sidecars = _accept_sidecars(records, chosen, overwrite) if _settings(folder).get("write_sidecars", True) else 0
    dataset_file = content.get("dataset") or results.get("dataset")
    dataset = _accept_dataset(Path(dataset_file), records, chosen, overwrite) if dataset_file else None
    return {"run_id": folder.name, "sidecars": sidecars, "dataset": dataset}


def _parsed(file: str, values: Any) -> dict:
    if not isinstance(values, dict):
        raise ProtocolError(f"{file}: expected an object of labels, got {values!r}")
    out = {}
    for name, value in values.items():
        if name not in LABELS:
            raise ProtocolError(f"{file}: {name!r} is not a label; labels are {', '.join(LABELS)}")
        try:
            out[name] = FIELD_PARSERS[name](value)
        except LabelError as err:
            raise DatasetError(f"{file}, {LABEL_NAMES[name]}: {err}") from None
    if out.get("is_instrumental"):
        out["lyrics"] = ""
    return out


def _changed_since(current: dict, record: dict, name: str) -> bool:
    """True when `name` now holds a value neither the run saw nor the run wrote (someone edited it)."""
    value = current.get(name)
    return value not in ("", None, "unknown", False) and value != (record.get("existing") or {}).get(name) \
        and value != (record.get("labels") or {}).get(name)


def _apply(current: dict, record: dict, values: dict, overwrite: bool) -> tuple[dict, list]:
    labels, kept = dict(current), []
    for name, value in values.items():
        if _changed_since(current, record, name) and not overwrite and current.get(name) != value:
            kept.append(name)
        else:
            labels[name] = value
    return labels, kept


def _accept_sidecars(records: dict, chosen: dict, overwrite: bool) -> int:
    written = 0
    for file, values in chosen.items():
        record, audio = records[file], Path(records[file]["path"])
        labels, _ = _apply(labels_on_disk(audio), record, values, overwrite)
        block = read_block(audio) or {"done": record.get("done", {})}
        # accepted values are the user's now: a later caption run keeps them
        block["written"] = {k: v for k, v in (block.get("written") or {}).items() if k not in values}
        write_sidecar(audio, labels, block)
        written += 1
    return written


def _accept_dataset(path: Path, records: dict, chosen: dict, overwrite: bool) -> dict:
    dataset = load_dataset(path)
    by_path = {str(dataset.audio_path(s).resolve()): s for s in dataset.samples}
    updated, kept, missing = 0, {}, []
    for file, values in chosen.items():
        sample = by_path.get(str(Path(records[file]["path"]).resolve()))
        if sample is None:
            missing.append(file)
            continue
        current = {name: getattr(sample, name) for name in LABELS}
        labels, kept_here = _apply(current, records[file], values, overwrite)
        if kept_here:
            kept[file] = kept_here
        if labels != current:
            for name, value in labels.items():
                setattr(sample, name, value)
            sample.labeled = sample.labeled or bool(sample.caption or sample.genre)
            updated += 1
    save_dataset(dataset, path, force=overwrite)
    return {"file": str(path), "updated": updated, "kept": kept, "missing": missing,
            "message": f"{path.name}: {counted(updated, 'sample')} updated"}
