"""What a preprocessing run will do: one work item per dataset sample, and what is already done.

Output names are stable (`<stem>-<8 hex of the sample's path>.safetensors`), so a rerun finds the
files a killed or stopped run finished and skips them (PP-5). Leftover temporary files of a killed
run are removed first; they are never listed, so no half file is ever read.
"""
from __future__ import annotations

import hashlib
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from daemon.preprocess.tensor_folder import SAMPLE_SUFFIX, read_sample_header
from shared.confine import outside_reason
from shared.dataset import Dataset, Sample
from shared.errors import TensorFolderError
from shared.tensor_manifest import is_studio_manifest, read_manifest

log = logging.getLogger(__name__)

PASS1_DIR = ".pass1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class WorkItem:
    """One sample to encode: where its audio is and where its tensor file goes."""

    index: int
    sample: Sample
    audio_path: Path
    out_path: Path

    @property
    def name(self) -> str:
        return self.out_path.name

    @property
    def key(self) -> str:
        """Stable identity of the sample (its dataset-relative audio path)."""
        return self.sample.audio


@dataclass
class Plan:
    """Items still to encode, entries of files already finished, samples refused (their audio lies
    outside the dataset's allowed folders: never opened), and the output folder."""

    output_dir: Path
    todo: list[WorkItem]
    finished: dict[str, dict] = field(default_factory=dict)  # file name -> manifest entry
    order: dict[str, int] = field(default_factory=dict)  # file name -> dataset index
    refused: list[tuple[WorkItem, str]] = field(default_factory=list)  # (item, why)

    @property
    def total(self) -> int:
        return len(self.todo) + len(self.finished)


def output_name(sample: Sample) -> str:
    """`<stem>-<hash>.safetensors`: readable, unique per audio path, the same on every run."""
    stem = _UNSAFE.sub("_", Path(sample.audio).stem).strip("._")[:60] or "sample"
    digest = hashlib.sha1(sample.audio.encode("utf-8", "surrogateescape")).hexdigest()[:8]  # any file name
    return f"{stem}-{digest}{SAMPLE_SUFFIX}"


def remove_stale_temporaries(output_dir: Path) -> int:
    """Delete temporary files a killed run left behind (`.<name>.<pid>.tmp`); returns how many."""
    removed = 0
    for pattern in (".*.tmp", f"{PASS1_DIR}/.*.tmp"):
        for path in output_dir.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("removed %d leftover temporary file(s) in %s", removed, output_dir)
    return removed


def make_plan(dataset: Dataset, output_dir: Path, *, fingerprint: str, model_name: str,
              overwrite: bool = False) -> Plan:
    """Work items for every sample; finished files (same model) are skipped unless `overwrite`."""
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(output_dir)
    if overwrite:  # two-pass intermediates of an earlier run may have other settings
        shutil.rmtree(output_dir / PASS1_DIR, ignore_errors=True)
    previous = read_manifest(output_dir)
    old_entries = {}
    if previous is not None and not is_studio_manifest(previous):
        raise TensorFolderError(
            f"{output_dir}: holds a manifest.json written by another tool (a legacy tensor folder?); "
            "choose another output folder so it is not overwritten"
        )
    if previous is not None:
        _refuse_other_model(output_dir, previous, fingerprint, model_name, overwrite)
        old_entries = {e.get("path"): e for e in previous.get("files", []) if isinstance(e, dict)}
    plan = Plan(output_dir=output_dir, todo=[])
    seen: set[str] = set()
    for index, sample in enumerate(dataset.samples):
        out_path = output_dir / output_name(sample)
        if out_path.name in seen:  # the same audio listed twice: encode it once
            continue
        seen.add(out_path.name)
        plan.order[out_path.name] = index
        item = WorkItem(index, sample, dataset.audio_path(sample), out_path)
        reason = outside_reason(dataset, sample)
        if reason is not None:
            plan.refused.append((item, reason))
            continue
        entry = None if overwrite else _finished_entry(out_path, old_entries.get(out_path.name))
        if entry is None:
            plan.todo.append(item)
        else:
            plan.finished[out_path.name] = entry
    return plan


def _refuse_other_model(output_dir: Path, previous: dict, fingerprint: str, model_name: str,
                        overwrite: bool) -> None:
    theirs = (previous.get("model") or {}).get("fingerprint")
    if theirs and theirs != fingerprint and not overwrite:
        made_with = (previous.get("model") or {}).get("name") or "another model"
        raise TensorFolderError(
            f"{output_dir}: already holds tensors made with {made_with!r}, not {model_name!r}; "
            "choose another output folder or turn on overwrite"
        )


def _finished_entry(out_path: Path, old_entry: dict | None) -> dict | None:
    """The manifest entry of a finished file: the old one when the size agrees, else its header."""
    if not out_path.is_file():
        return None
    if old_entry and old_entry.get("bytes") == out_path.stat().st_size and old_entry.get("sha256"):
        return old_entry
    try:
        header = read_sample_header(out_path)
    except TensorFolderError as err:
        log.warning("%s is unreadable, encoding it again: %s", out_path, err)
        out_path.unlink(missing_ok=True)
        return None
    metadata = header.pop("metadata")
    header["summary"] = summary_of(metadata)
    return header


SUMMARY_KEYS = ("filename", "duration", "source_duration", "frames", "text_tokens", "lyric_tokens",
                "loudness", "caption")


def summary_of(metadata: dict) -> dict:
    """The part of a sample's metadata the manifest repeats for tables (no need to open the file)."""
    return {key: metadata.get(key) for key in SUMMARY_KEYS if key in metadata}
