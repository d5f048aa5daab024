"""The caption batch: every file of a folder (recursive) or a dataset, phase by phase, resumable.

    result = run_caption(ctx, settings)

Phases: the caption provider over every file, then the lyrics provider over every file (one model
in memory at a time; a Gemini run that also wants lyrics asks for both in one request). Each
file is decoded and its signal analysed on a CPU thread ahead of the model (`prefetch`). After
each file its `<stem>.json` sidecar is written and a line is appended to the run's
`results.jsonl`, so a batch killed at any point restarts where it stopped: a file whose sidecar
says this phase was done by this provider is skipped (unless `redo`). At the end (also after a
stop) the run folder gets `results.json` and `captions.csv` (`outputs`), and a dataset file is
updated. One bad file never stops the batch; a refused API key does.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.caption import outputs
from daemon.caption.clips import prepare_clip
from daemon.caption.merge import merge, proposals
from daemon.caption.providers import Provider, make_provider
from daemon.caption.sidecar import labels_on_disk, read_block, write_sidecar
from daemon.preprocess.prefetch import prefetch
from shared.caption_settings import CaptionSettings
from shared.confine import refused_samples
from shared.dataset import Dataset, load_dataset
from shared.dataset_scan import ScanProblem, iter_audio_files
from shared.errors import DatasetError, ProviderError, StudioError
from shared.wording import counted, readable

log = logging.getLogger(__name__)

RESULTS_LOG = "results.jsonl"


@dataclass
class Record:
    """Everything known about one file in this run (one line of results.jsonl)."""

    file: str
    path: str
    existing: dict = field(default_factory=dict)  # the labels the user had when the run started
    signal: dict | None = None
    caption: dict | None = None
    lyrics: dict | None = None
    labels: dict = field(default_factory=dict)  # what the sidecar holds now
    proposed: dict = field(default_factory=dict)
    kept: list = field(default_factory=list)
    done: dict = field(default_factory=dict)  # phase -> provider
    written: dict = field(default_factory=dict)  # labels this studio wrote (replaceable later)
    error: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Source:
    """What the batch runs over: records in order, the dataset when one was given, skipped files."""

    records: list[Record]
    dataset: Dataset | None
    dataset_file: Path | None
    trigger_word: str
    skipped: list[ScanProblem]


def phases(settings: CaptionSettings) -> list[tuple[str, str]]:
    """(phase, provider) in the order they run; "signal" alone when no model is asked for."""
    out = []
    caption_by, lyrics_by = settings.caption_by(), settings.lyrics_by()
    if caption_by:
        out.append(("caption", caption_by))
    if lyrics_by and not (lyrics_by == caption_by == "gemini"):
        out.append(("lyrics", lyrics_by))
    return out or [("signal", "signal")]


def run_caption(ctx: Any, settings: CaptionSettings) -> dict:
    """Caption every file of `settings.source`; returns the summary the job result holds."""
    source = open_source(settings)
    for problem in source.skipped:
        ctx.log(f"{readable(problem.path)}: skipped, {problem.reason}", level="warning")
    todo = {phase: [r for r in source.records if settings.redo or r.done.get(phase) != provider]
            for phase, provider in phases(settings)}
    total = sum(len(records) for records in todo.values())
    ctx.progress(0, total, f"{counted(len(source.records), 'file')} to caption")
    done = 0
    manager = ctx.services.get("models") if any(p == "local" for _, p in phases(settings)) else None
    for phase, provider_name in phases(settings):
        if ctx.stop_requested:
            break
        provider = None if provider_name == "signal" else make_provider(
            provider_name, settings, manager, role="lyrics" if phase == "lyrics" else "caption")
        try:
            for record in _run_phase(ctx, settings, source, phase, provider, todo[phase]):
                done += 1
                ctx.progress(done, total, f"{phase}: {readable(record.file)}")
        finally:
            if provider is not None:
                provider.close()
    summary = outputs.finish(ctx, settings, source)
    summary["stopped"] = ctx.stop_requested
    return summary


def _run_phase(ctx: Any, settings: CaptionSettings, source: Source, phase: str, provider: Provider | None,
               records: list[Record]):
    """Caption `records` with `provider`; yields each record when its sidecar and log line are written."""
    def load(record: Record):
        return prepare_clip(Path(record.path), record.file, settings.max_audio_seconds,
                            analyse_signal=record.signal is None)

    stream = prefetch(records, load, workers=1, ahead=settings.prefetch)
    try:
        for record, clip in stream:
            if ctx.stop_requested:
                break
            if isinstance(clip, Exception):
                _failed(ctx, record, clip)
            else:
                if record.signal is None:
                    record.signal = clip.signal.to_dict()
                try:
                    _ask(provider, phase, settings, record, clip)
                except ProviderError as err:
                    if err.fatal:
                        raise
                    _failed(ctx, record, err)
                except StudioError as err:
                    _failed(ctx, record, err)
                else:
                    record.done[phase] = provider.name if provider else "signal"
                    record.error = ""
                del clip
            _save(ctx, settings, source, record)
            yield record
    finally:
        stream.close()


def _ask(provider: Provider | None, phase: str, settings: CaptionSettings, record: Record, clip: Any) -> None:
    if provider is None:
        return
    if phase == "caption":
        with_lyrics = provider.lyrics_in_caption and settings.lyrics_by() == provider.name
        answer = provider.caption(clip, lyrics=with_lyrics)
        record.caption = answer.to_dict()
        if with_lyrics:
            record.lyrics = answer.to_dict()
            record.done["lyrics"] = provider.name
    else:
        record.lyrics = provider.transcribe(clip).to_dict()


def _failed(ctx: Any, record: Record, err: Exception) -> None:
    record.error = str(err) if isinstance(err, StudioError) else f"{type(err).__name__}: {err}"
    ctx.log(f"{readable(record.file)}: {record.error}", level="warning")


def settle(record: Record, settings: CaptionSettings, trigger_word: str) -> None:
    """Work out the record's labels from what its answers and its signal propose."""
    record.proposed = proposals(record.caption, record.lyrics, record.signal, trigger_word)
    record.labels, record.kept = merge(record.existing, record.proposed, record.written,
                                       overwrite=settings.overwrite_labels)


def _save(ctx: Any, settings: CaptionSettings, source: Source, record: Record) -> None:
    """Settle the labels, write the sidecar, append the record to results.jsonl."""
    settle(record, settings, source.trigger_word)
    if settings.write_sidecars and not record.error:
        record.written = {k: v for k, v in record.labels.items() if k in record.proposed and k not in record.kept}
        block = {"done": record.done, "written": record.written, "signal": record.signal,
                 "caption": record.caption, "lyrics": record.lyrics}
        try:
            write_sidecar(Path(record.path), record.labels, block)
        except OSError as err:
            record.error = f"the sidecar cannot be written ({err})"
            ctx.log(f"{readable(record.file)}: {record.error}", level="warning")
    with open(ctx.run_dir / RESULTS_LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")


def open_source(settings: CaptionSettings) -> Source:
    """The records of a folder (recursive) or of a dataset file, with what earlier runs finished."""
    path = Path(settings.source).expanduser().absolute()
    if path.is_dir():
        skipped: list[ScanProblem] = []
        records = [_record(audio.relative_to(path).as_posix(), audio, labels_on_disk(audio))
                   for audio, _ in iter_audio_files(path, problems=skipped)]
        trigger = _folder_trigger_word(path)
        return Source(records, None, None, trigger, skipped)
    if path.is_file():
        dataset = load_dataset(path)
        refused = refused_samples(dataset)
        skipped = [ScanProblem(s.audio, reason) for s, reason in refused]
        refused_ids = {id(s) for s, _ in refused}
        records = [_record(dataset.key(s), dataset.audio_path(s), _sample_labels(s))
                   for s in dataset.samples if id(s) not in refused_ids]
        return Source(records, dataset, path, dataset.options.trigger_word, skipped)
    raise CaptionSettings.field_error("source", f"{path} is neither a folder nor a dataset file")


def _record(key: str, audio: Path, existing: dict) -> Record:
    block = read_block(audio)
    record = Record(file=key, path=str(audio), existing=existing)
    record.done = dict(block.get("done") or {})
    record.written = dict(block.get("written") or {})
    record.signal, record.caption, record.lyrics = block.get("signal"), block.get("caption"), block.get("lyrics")
    return record


def _sample_labels(sample: Any) -> dict:
    return {name: getattr(sample, name) for name in ("caption", "genre", "lyrics", "bpm", "keyscale",
                                                     "timesignature", "language", "is_instrumental")}


def _folder_trigger_word(folder: Path) -> str:
    """The trigger word of the folder's own dataset file, when it has one."""
    try:
        return load_dataset(folder / "dataset.json").options.trigger_word if (folder / "dataset.json").is_file() else ""
    except DatasetError:
        return ""
