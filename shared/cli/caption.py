"""`acestep-studio caption DIR|DATASET`: caption a folder (recursive) or a dataset file in the daemon.

    acestep-studio caption songs/ --wait                         # local captioner, signal analysis
    acestep-studio caption songs/dataset.json --lyrics --wait    # + lyrics, written into the dataset
    acestep-studio caption songs/ --provider whisper --wait      # lyrics from OpenAI (OPENAI_API_KEY)
    acestep-studio caption songs/ --provider signal --wait       # no model: BPM, key, duration, loudness

Flags are derived from CaptionSettings (shared/caption_settings.py). `--settings FILE` starts
from saved captioner settings (the Captioner page saves them; `--save-settings` saves these).
With --wait the results are printed as a table when the job ends. Paths are made absolute here
because the daemon runs in its own working directory.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from shared.caption_settings import CaptionSettings, save_caption_settings
from shared.cli.util import client_from_args, print_json, print_table, wait_for_job
from shared.errors import SettingsError
from shared.home import studio_home

NOISE_NOTICE = ("note: the demo captioner and transcriber have random weights; their text is noise "
                "(the signal analysis is real)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="caption a folder or a dataset: captions, key, tempo, genre, lyrics")
    p.add_argument("path", metavar="DIR|DATASET", help="an audio folder (searched recursively) or a dataset file")
    CaptionSettings.add_arguments(p, only=[n for n in CaptionSettings.names() if n != "source"])
    p.add_argument("--settings", dest="settings_file", metavar="FILE",
                   help="start from saved captioner settings (a file the Captioner page or --save-settings wrote)")
    p.add_argument("--save-settings", action="store_true",
                   help="save these settings as the ones the Captioner page opens with")
    p.add_argument("--wait", action="store_true", help="follow the job, then print the results")
    p.set_defaults(func=cmd_caption)


def cmd_caption(args: argparse.Namespace) -> int:
    base = {**_saved(args), "source": os.path.abspath(os.path.expanduser(args.path))}
    settings = CaptionSettings.from_args(args, base)
    settings = settings.replace(**_absolute_paths(settings))
    if args.save_settings:
        save_caption_settings(settings.to_dict(), studio_home(getattr(args, "home", None)))
    client = client_from_args(args)
    job_id = client.submit("caption", settings.to_dict())
    if not args.wait:
        if args.json:
            print_json({"job_id": job_id})
        else:
            print(job_id)
            print(f"caption job queued; follow it with `acestep-studio logs {job_id} -f`", file=sys.stderr)
        return 0
    if not args.json:
        print(f"job {job_id} submitted", file=sys.stderr)
    code = wait_for_job(client, job_id, args)
    results = client.caption_results(job_id)
    if args.json:
        print_json(results)
        return code
    print_results(results)
    summary = client.job(job_id).get("result") or {}
    if summary.get("kept"):
        print(f"kept {summary['kept']} labels that were already set (--overwrite-labels replaces them)",
              file=sys.stderr)
    return code


def _saved(args: argparse.Namespace) -> dict:
    if not args.settings_file:
        return {}
    path = Path(args.settings_file).expanduser()
    if not path.is_file():
        raise SettingsError(f"{path}: no such settings file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SettingsError(f"{path}: not a settings file ({err})") from None
    values = data.get("settings", data) if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: expected a JSON object of captioner settings")
    return {k: v for k, v in values.items() if k in CaptionSettings.names()}


def _absolute_paths(settings: CaptionSettings) -> dict:
    changes = {}
    for name in ("captioner_model", "transcriber_model", "csv_file"):
        value = getattr(settings, name)
        if value and (os.sep in value or value.startswith((".", "~"))) and not _hub_id(value):
            changes[name] = os.path.abspath(os.path.expanduser(value))
    return changes


def _hub_id(value: str) -> bool:
    """"org/name" with no such folder here is a Hugging Face id, left as it is."""
    return value.count("/") == 1 and not value.startswith((".", "/", "~")) and not Path(value).exists()


def print_results(results: dict) -> None:
    rows = []
    demo = False
    for record in results.get("files", []):
        labels, signal = record.get("labels") or {}, record.get("signal") or {}
        demo = demo or bool((record.get("caption") or {}).get("demo") or (record.get("lyrics") or {}).get("demo"))
        lyrics = "[Instrumental]" if labels.get("is_instrumental") else (labels.get("lyrics") or "").split("\n")[0]
        rows.append({"file": record["file"], "caption": _short(labels.get("caption"), 48),
                     "key": labels.get("keyscale") or "", "bpm": labels.get("bpm"),
                     "time": labels.get("timesignature") or "", "genre": _short(labels.get("genre"), 24),
                     "lyrics": _short(lyrics, 30), "signal": _signal(signal),
                     "problem": _short(record.get("error"), 60)})
    columns = ["file", "caption", "key", "bpm", "time", "genre", "lyrics", "signal"]
    if any(r["problem"] for r in rows):
        columns.append("problem")
    print_table(rows, columns)
    if demo:
        print(NOISE_NOTICE, file=sys.stderr)


def _signal(signal: dict) -> str:
    if not signal:
        return ""
    bpm = f"{signal['bpm']:g} BPM" if signal.get("bpm") else "no beat"
    key = f"{signal['keyscale']} ({signal.get('key_confidence', 0):.2f})" if signal.get("keyscale") else "no key"
    return f"{bpm}, {key}"


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[:width - 1] + "…"
