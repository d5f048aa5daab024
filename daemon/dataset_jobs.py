"""The `split_audio` job: cut long audio into fixed segments (30 / 60 s) with soundfile, no ffmpeg.

Every audio file below `input_dir` is read block by block and written as `<stem>_partNN.<ext>`
into the same subfolder under `output_dir`; the last piece keeps what is left (a 70 s file in
30 s segments gives 30, 30, 10) unless shorter than `min_segment_seconds`. Files no longer than
one segment are copied as they are. Sidecars (`.json`, `.caption.txt`, `.lyrics.txt`, `.txt`) are
copied to each segment. Originals are never touched; each segment is written to a temporary
file and renamed, so a stop or a crash leaves no half-written segment.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.jobs import JobContext
from daemon.registry import job_kind
from shared.atomic import write_file_atomic
from shared.audio_probe import probe_audio
from shared.dataset_scan import ScanProblem, iter_audio_files, sidecar_names, sidecar_paths
from shared.split_settings import SplitAudioSettings
from shared.wording import readable

log = logging.getLogger(__name__)

_FLAC_HIGH = ("PCM_24", "PCM_32", "FLOAT", "DOUBLE")


@job_kind("split_audio", SplitAudioSettings, "Cut long audio files into fixed-length segments.")
def run_split_audio(ctx: JobContext, settings: SplitAudioSettings) -> dict:
    """Split every audio file below input_dir into output_dir; one bad file never stops the rest."""
    source, target = Path(settings.input_dir).absolute(), Path(settings.output_dir).absolute()
    if not source.is_dir():
        raise SplitAudioSettings.field_error("input_dir", f"{source} is not a folder")
    files, skipped = [], []
    for path, _ in iter_audio_files(source, exclude=target, problems=skipped):
        info, problem = probe_audio(path)  # regular files only, never blocking on a pipe
        if info is None or info.samplerate <= 0:
            skipped.append(ScanProblem(path.relative_to(source).as_posix(), problem or "no audio frames"))
        else:
            files.append((path, info.frames / info.samplerate))
    for problem in skipped:
        ctx.log(f"{readable(problem.path)}: skipped, {problem.reason}", level="warning")
    total_s = int(sum(seconds for _, seconds in files)) or 1
    result = {"files": len(files), "segments": 0, "copied": 0, "existing": 0,
              "failed": [{"file": readable(p.path), "reason": p.reason} for p in skipped],
              "output_dir": str(target), "stopped": False}
    done_s = 0.0
    for path, seconds in files:
        if ctx.stop_requested:
            break
        rel = path.relative_to(source).as_posix()

        def progress(file_s: float, base: float = done_s, rel: str = rel) -> None:
            ctx.progress(int(base + file_s), total_s, rel)

        try:
            written = split_file(path, target / Path(rel).parent, settings,
                                 stop=lambda: ctx.stop_requested, progress=progress)
        except (RuntimeError, OSError, ValueError) as err:
            result["failed"].append({"file": rel, "reason": str(err)})
            ctx.log(f"{rel}: not split ({err})", level="warning")
            written = {}
        done_s += seconds
        ctx.progress(int(done_s), total_s, rel)
        for key, count in written.items():
            result[key] += count
    result["stopped"] = ctx.stop_requested
    ctx.write_json("split_report.json", result)
    ctx.log(f"{result['segments']} segments from {len(files)} files, {result['copied']} copied whole, "
            f"{len(result['failed'])} failed")
    return result


def split_file(path: Path, out_dir: Path, settings: SplitAudioSettings,
               stop: Callable[[], bool] = lambda: False,
               progress: Callable[[float], None] = lambda seconds: None) -> dict:
    """Split one file into out_dir (or copy it when it fits one segment); counts what was written.

    `stop()` is asked before each segment; `progress(seconds)` hears how far into the file it is.
    """
    import soundfile

    counts = {"segments": 0, "copied": 0, "existing": 0}
    out_dir.mkdir(parents=True, exist_ok=True)
    with soundfile.SoundFile(str(path)) as audio:
        rate, frames = audio.samplerate, audio.frames
        segment = round(settings.segment_seconds * rate)
        if frames <= segment:
            counts["copied" if _copy_whole(path, out_dir, settings.overwrite) else "existing"] += 1
            return counts
        minimum = int(settings.min_segment_seconds * rate)
        pieces = [(start, min(segment, frames - start)) for start in range(0, frames, segment)]
        pieces = [(start, length) for start, length in pieces if length >= max(minimum, 1)]
        width = max(2, len(str(len(pieces))))
        subtype = _subtype(settings.output_format, audio.subtype)
        for number, (start, length) in enumerate(pieces, start=1):
            if stop():
                break
            name = f"{path.stem}_part{number:0{width}d}.{settings.output_format}"
            target = out_dir / name
            if target.exists() and not settings.overwrite:
                counts["existing"] += 1
                continue
            audio.seek(start)
            data = audio.read(length, dtype="float32", always_2d=True)
            _write_atomic(target, data, rate, settings.output_format, subtype)
            _copy_sidecars(path, target)
            counts["segments"] += 1
            progress((start + length) / rate)
    return counts


def _subtype(output_format: str, source_subtype: str) -> str:
    if output_format == "flac":
        return "PCM_24" if source_subtype in _FLAC_HIGH else "PCM_16"
    return source_subtype if source_subtype in ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE") else "PCM_16"


def _write_atomic(target: Path, data: Any, rate: int, output_format: str, subtype: str) -> None:
    import soundfile

    write_file_atomic(target, lambda tmp: soundfile.write(tmp, data, rate, subtype=subtype,
                                                          format=output_format.upper()))


def _copy_whole(path: Path, out_dir: Path, overwrite: bool) -> bool:
    target = out_dir / path.name
    if target.exists() and not overwrite:
        return False
    write_file_atomic(target, lambda tmp: shutil.copy2(path, tmp))
    _copy_sidecars(path, target)
    return True


def _copy_sidecars(original: Path, segment: Path) -> None:
    """Copy the original's sidecars next to a segment, renamed to the segment's stem."""
    source_names = sidecar_names(original.name)
    target_names = sidecar_names(segment.name)
    by_name = {name: kind for kind, name in source_names.items()}
    for sidecar in sidecar_paths(original):
        shutil.copyfile(sidecar, segment.with_name(target_names[by_name[sidecar.name]]))
