"""The demo dataset: eight short synthetic clips with known tempo and key, labelled as users do.

`write_demo_dataset(folder)` writes 48 kHz stereo wav clips (a chord progression plus a click
track, made with numpy), their captions in `captions.csv`, lyrics in `<stem>.lyrics.txt`
sidecars (one clip is instrumental), then scans the folder, imports the CSV and saves
`dataset.json` with a trigger word, exactly the way a user builds a dataset in the Dataset page.
The same seed gives the same bytes; a folder already written with that seed is left alone.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.dataset import save_dataset
from shared.dataset_csv import import_csv
from shared.dataset_scan import scan_folder
from shared.errors import DatasetError

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
DEMO_VERSION = 1
MARKER = ".demo_dataset.json"
TRIGGER_WORD = "demotone"
NOTE_INDEX = {"C": 0, "C#": 1, "Db": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "Ab": 8,
              "A": 9, "Bb": 10, "B": 11}
# Scale degrees (semitones from the tonic) of the progression's chord roots, and chord shapes.
PROGRESSIONS = {"major": ((0, 7, 9, 5), ((0, 4, 7), (0, 4, 7), (0, 3, 7), (0, 4, 7))),
                "minor": ((0, 8, 3, 10), ((0, 3, 7), (0, 4, 7), (0, 4, 7), (0, 4, 7)))}


@dataclass(frozen=True)
class DemoClip:
    file: str
    seconds: float
    bpm: int
    key: str
    timesignature: str
    genre: str
    caption: str
    lyrics: str | None  # None: instrumental
    language: str = "en"


CLIPS = (
    DemoClip("vocal/sunrise.wav", 4.0, 120, "C major", "4", "pop",
             "bright pop with warm piano chords and a steady click",
             "[verse]\nMorning light on the avenue\nEvery colour coming through"),
    DemoClip("vocal/rainy_day.wav", 5.0, 90, "A minor", "4", "lofi",
             "mellow lo-fi chords, soft and slow",
             "[verse]\nRain on the window\nTea going cold"),
    DemoClip("vocal/waltz.wav", 6.0, 150, "F major", "3", "folk",
             "gentle folk waltz in three, plucked chords",
             "[chorus]\nOne two three, turn with me"),
    DemoClip("vocal/drive.wav", 4.5, 128, "E minor", "4", "synthwave",
             "driving synthwave pads with a hard click",
             "[verse]\nNeon lines and an empty road"),
    DemoClip("vocal/lullaby.wav", 5.5, 70, "G major", "6", "ambient",
             "slow ambient lullaby, airy sustained chords",
             "[verse]\nClose your eyes, the stars are near", "en"),
    DemoClip("vocal/cancion.wav", 3.5, 110, "D minor", "4", "latin",
             "latin groove with minor chords and a woodblock click",
             "[verso]\nBaila conmigo esta noche", "es"),
    DemoClip("vocal/march.wav", 3.0, 112, "Bb major", "2", "brass",
             "bold march in two with bright stacked chords",
             "[chorus]\nLeft and right we carry on"),
    DemoClip("instrumental/theme.wav", 5.0, 100, "D major", "4", "cinematic",
             "cinematic instrumental theme, wide chords",
             None, "unknown"),
)


def write_demo_dataset(folder: Path, seed: int = 0) -> Path:
    """Write the demo clips, CSV and sidecars into `folder`; returns the `dataset.json` path."""
    folder = Path(folder).absolute()
    dataset_file = folder / "dataset.json"
    marker = folder / MARKER
    stamp = {"seed": seed, "version": DEMO_VERSION}
    if dataset_file.exists() and marker.exists() and _read_json(marker) == stamp:
        return dataset_file
    rng = np.random.default_rng(seed)
    for clip in CLIPS:
        path = folder / clip.file
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_wav(path, render_clip(clip, rng))
        if clip.lyrics is not None:
            path.with_name(f"{path.stem}.lyrics.txt").write_text(clip.lyrics + "\n", encoding="utf-8")
    _write_captions_csv(folder / "captions.csv")
    result = scan_folder(folder)
    if result.problems:
        raise DatasetError(f"demo dataset: scan problems {result.problems}")
    report = import_csv(result.dataset, folder / "captions.csv")
    if report.issues or report.matched != len(CLIPS):
        raise DatasetError(f"demo dataset: CSV import problems: {[str(i) for i in report.issues]}")
    dataset = result.dataset
    dataset.options = dataset.options.replace(name="demo", trigger_word=TRIGGER_WORD, tag_position="prepend",
                                              genre_ratio=0.25, genre_ratio_seed=seed)
    save_dataset(dataset, dataset_file)
    marker.write_text(json.dumps(stamp), encoding="utf-8")
    log.info("demo dataset written to %s", folder)
    return dataset_file


def render_clip(clip: DemoClip, rng: np.random.Generator) -> np.ndarray:
    """A stereo float32 clip: one chord a bar of the progression, and a click on every beat."""
    n = int(clip.seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    beat_s = 60.0 / clip.bpm
    bar_s = beat_s * int(clip.timesignature)
    note, mode = clip.key.split()
    tonic = 48 + NOTE_INDEX[note]  # MIDI, around C3
    roots, shapes = PROGRESSIONS[mode]
    chords = np.zeros(n)
    bar_index = (t // bar_s).astype(int) % len(roots)
    phase_in_bar = (t % bar_s) / bar_s
    envelope = np.exp(-2.5 * phase_in_bar) * 0.8 + 0.2
    for degree, (root, shape) in enumerate(zip(roots, shapes, strict=True)):
        mask = bar_index == degree
        for interval in shape:
            freq = 440.0 * 2 ** ((tonic + root + interval - 69) / 12)
            chords[mask] += np.sin(2 * np.pi * freq * t[mask]) + 0.3 * np.sin(4 * np.pi * freq * t[mask])
    chords *= envelope / 6.0
    click = np.zeros(n)
    beat_frames = int(0.03 * SAMPLE_RATE)
    for beat_number, start in enumerate(np.arange(0.0, clip.seconds, beat_s)):
        first = int(start * SAMPLE_RATE)
        length = min(beat_frames, n - first)
        accent = 1.0 if beat_number % int(clip.timesignature) == 0 else 0.5
        decay = np.exp(-np.arange(length) / (0.004 * SAMPLE_RATE))
        tone = np.sin(2 * np.pi * (1500 if accent == 1.0 else 1000) * np.arange(length) / SAMPLE_RATE)
        click[first:first + length] += accent * decay * (tone + 0.2 * rng.standard_normal(length))
    left = chords * 0.9 + click * 0.35
    right = chords * 0.75 + click * 0.45
    stereo = np.stack([left, right], axis=1)
    return (stereo / max(1.0, np.abs(stereo).max() / 0.9)).astype(np.float32)


def _write_wav(path: Path, audio: np.ndarray) -> None:
    import soundfile

    soundfile.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")


def _write_captions_csv(path: Path) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "caption", "genre", "bpm", "key", "timesignature", "language", "instrumental"])
        for clip in CLIPS:
            writer.writerow([clip.file, clip.caption, clip.genre, clip.bpm, clip.key, clip.timesignature,
                             clip.language, "true" if clip.lyrics is None else "false"])


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
