#!/usr/bin/env python3
"""A 5,000-sample dataset: scan a folder of small files, save, load, export and import CSV, prompts.

Target: load + save under 1 s. The baseline is plain `json.dumps` + write and read + `json.loads`
of the same data in the same process, so the ratio shows what our checks and rebasing cost.
Usage: python bench/dataset_scale.py [--samples 5000] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.dataset import load_dataset, save_dataset  # noqa: E402
from shared.dataset_csv import export_csv, import_csv  # noqa: E402
from shared.dataset_scan import scan_folder  # noqa: E402
from shared.prompt import training_captions  # noqa: E402

LYRICS = "[verse]\n" + "\n".join(f"line {i} of a song that goes on for a while" for i in range(12))


def write_folder(root: Path, n: int) -> None:
    """n tiny wav files in 50 subfolders; a third with a caption sidecar, a fifth with a JSON sidecar."""
    tone = (0.1 * np.sin(np.arange(800) / 8)).astype(np.float32)
    for i in range(n):
        path = root / f"artist_{i % 50:02d}" / f"track_{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), tone, 8000, subtype="PCM_16")
        if i % 3 == 0:
            path.with_name(f"{path.stem}.caption.txt").write_text(f"caption of track {i}, warm and slow")
        if i % 5 == 0:
            path.with_name(f"{path.stem}.json").write_text(json.dumps({"bpm": 90 + i % 60, "keyscale": "Am"}))


def timed(label: str, fn, results: dict):
    started = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - started
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--keep", type=Path, help="write the folder here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "songs"
        t: dict[str, float] = {}
        timed("write files", lambda: write_folder(root, args.samples), t)
        result = timed("scan", lambda: scan_folder(root), t)
        dataset = result.dataset
        for i, sample in enumerate(dataset.samples):  # a fully labelled dataset, lyrics included
            sample.caption = sample.caption or f"caption {i}"
            sample.genre, sample.lyrics, sample.language = "lofi", LYRICS, "en"
        dataset.options = dataset.options.replace(trigger_word="bench", genre_ratio=0.2)
        path = root / "dataset.json"
        timed("save", lambda: save_dataset(dataset, path), t)
        size_mb = path.stat().st_size / 1e6
        loaded = timed("load", lambda: load_dataset(path), t)
        assert loaded.samples == dataset.samples
        timed("training prompts", lambda: training_captions(loaded), t)
        csv = timed("export csv", lambda: export_csv(loaded, root / "labels.csv"), t)
        report = timed("import csv", lambda: import_csv(loaded, csv), t)
        assert report.ok and report.matched == args.samples
        data = loaded.to_dict()
        raw = root / "raw.json"
        timed("baseline save", lambda: raw.write_text(json.dumps(data, indent=1, ensure_ascii=False)), t)
        timed("baseline load", lambda: json.loads(raw.read_text()), t)

    print(f"{args.samples} samples, {len(result.problems)} scan problems, dataset.json {size_mb:.1f} MB")
    for label, seconds in t.items():
        print(f"  {label:<17} {seconds * 1000:8.1f} ms")
    ours = t["save"] + t["load"]
    base = t["baseline save"] + t["baseline load"]
    print(f"load + save      {ours * 1000:8.1f} ms  (target < 1000 ms: {'ok' if ours < 1.0 else 'MISSED'}); "
          f"{ours / base:.1f}x plain json")
    print(f"scan rate        {args.samples / t['scan']:8.0f} files/s")
    return 0 if ours < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
