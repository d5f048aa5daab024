"""`acestep-studio dataset ...`: scan, show, set options, CSV import/export, split (a daemon job).

    acestep-studio dataset scan songs/ -o songs/dataset.json
    acestep-studio dataset import-csv songs/dataset.json captions.csv
    acestep-studio dataset set songs/dataset.json --trigger-word mystyle --genre-ratio 0.2
    acestep-studio dataset show songs/dataset.json
    acestep-studio dataset split songs/ songs_30s/ --segment-seconds 30 --wait

Every verb except `split` works on files alone, without a daemon.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.cli.util import print_json
from shared.confine import refused_samples
from shared.dataset import Dataset, DatasetOptions, backup_path, load_dataset, save_dataset
from shared.dataset_csv import export_csv, import_csv
from shared.dataset_guard import LabelLossError
from shared.dataset_scan import ScanProblem, label_sources, scan_keeping_labels
from shared.errors import DatasetError
from shared.prompt import training_captions
from shared.split_settings import SplitAudioSettings
from shared.wording import counted, readable


FORCE_HELP = "save even when labels or options the dataset file has would be dropped (it is kept as .bak)"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dataset` verb and its sub-verbs."""
    parser = sub.add_parser("dataset", help="build and edit a dataset file (scan, CSV, show, split)")
    verbs = parser.add_subparsers(dest="dataset_verb", metavar="DATASET_VERB", required=True)

    p = verbs.add_parser("scan", help="scan a folder of audio (with sidecars) into a dataset file")
    p.add_argument("folder", type=Path)
    p.add_argument("-o", "--output", type=Path, help="dataset file (default FOLDER/dataset.json)")
    p.add_argument("--fresh", action="store_true",
                   help="start from the sidecars alone (default: keep the labels the dataset file has)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_scan)

    p = verbs.add_parser("import-csv", help="apply a CSV of labels to a dataset file")
    p.add_argument("dataset", type=Path)
    p.add_argument("csv", type=Path)
    p.add_argument("--strict", action="store_true", help="save nothing when any row has a problem")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_import_csv)

    p = verbs.add_parser("export-csv", help="write a dataset's labels as CSV (re-importable)")
    p.add_argument("dataset", type=Path)
    p.add_argument("csv", type=Path)
    p.set_defaults(func=cmd_export_csv)

    p = verbs.add_parser("show", help="the samples, their labels and the prompt each is trained with")
    p.add_argument("dataset", type=Path)
    p.set_defaults(func=cmd_show)

    p = verbs.add_parser("set", help="change dataset options (trigger word, tag position, genre ratio...)")
    p.add_argument("dataset", type=Path)
    DatasetOptions.add_arguments(p)
    p.add_argument("--no-language-override", action="store_true", help="use each sample's own language")
    p.set_defaults(func=cmd_set)

    p = verbs.add_parser("split", help="cut long audio into fixed segments (a daemon job)")
    p.add_argument("source", type=Path, metavar="INPUT_DIR")
    p.add_argument("target", type=Path, metavar="OUTPUT_DIR")
    SplitAudioSettings.add_arguments(p, only=["segment_seconds", "min_segment_seconds", "output_format",
                                              "overwrite"])
    p.add_argument("--wait", action="store_true", help="follow the job; exit non-zero unless it succeeds")
    p.set_defaults(func=cmd_split)


def cmd_scan(args: argparse.Namespace) -> int:
    output = args.output or args.folder / "dataset.json"
    sources: list[Dataset] = []
    unusable: list[ScanProblem] = []
    if not args.fresh:  # the labels of the output file first, then those of FOLDER/dataset.json
        sources, unusable = label_sources(args.folder, None)
        if output.is_file() and output.absolute() != (args.folder / "dataset.json").absolute():
            sources.insert(0, load_dataset(output))
    result = scan_keeping_labels(args.folder, sources)
    result.problems[:0] = unusable
    dataset = _save(result.dataset, output, args.force)
    problems = [{"file": p.path, "problem": p.reason} for p in result.problems]
    if args.json:
        print_json({"dataset": str(output), "samples": len(dataset.samples), "problems": problems})
        return 0
    labelled = sum(1 for s in dataset.samples if s.labeled)
    print(f"{output}: {len(dataset.samples)} samples ({labelled} labeled), "
          f"{sum(s.duration for s in dataset.samples):.0f} s of audio")
    if problems:
        print(f"{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  {readable(p['file'])}: {readable(p['problem'])}", file=sys.stderr)
    return 0


def cmd_import_csv(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.dataset)
    report = import_csv(dataset, args.csv)
    saved = not (args.strict and report.issues)
    if saved:
        _save(dataset, args.dataset, args.force)
    if args.json:
        print_json({**report.to_dict(), "saved": saved})
    else:
        print(report.summary())
        for note in report.notes:
            print(f"  note: {note}", file=sys.stderr)
        for issue in report.issues:
            print(f"  {issue}", file=sys.stderr)
        if not saved:
            print("nothing saved (--strict)", file=sys.stderr)
    return 1 if report.issues else 0


def _save(dataset: Dataset, path: Path, force: bool) -> Dataset:
    """save_dataset, with the flag that confirms a save that drops labels named in the refusal."""
    try:
        return save_dataset(dataset, path, force=force)
    except LabelLossError as err:
        raise DatasetError(f"{err} Run again with --force to save anyway (the old file is kept as "
                           f"{backup_path(path).name}).") from None


def cmd_export_csv(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.dataset)
    path = export_csv(dataset, args.csv)
    if args.json:
        print_json({"csv": str(path), "rows": len(dataset.samples)})
    else:
        print(f"{path}: {counted(len(dataset.samples), 'row')}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from shared.cli.util import print_table

    dataset = load_dataset(args.dataset)
    prompts = training_captions(dataset)
    if args.json:
        print_json({**dataset.to_dict(), "training_captions": prompts,
                    "refused": [{"file": s.audio, "reason": r} for s, r in refused_samples(dataset)]})
        return 0
    _print_options(dataset)
    rows = [{"file": readable(dataset.key(s)), "seconds": f"{s.duration:.1f}", "bpm": s.bpm, "key": s.keyscale or None,
             "ts": s.timesignature or None, "lang": s.language, "instr": "yes" if s.is_instrumental else "",
             "prompt": _clip(p, 60)} for s, p in zip(dataset.samples, prompts, strict=True)]
    print_table(rows, ["file", "seconds", "bpm", "key", "ts", "lang", "instr", "prompt"])
    for _, reason in refused_samples(dataset):
        print(f"refused: {reason}", file=sys.stderr)
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.dataset)
    dataset.options = DatasetOptions.from_args(args, base=dataset.options.to_dict())
    if args.no_language_override:
        dataset.options = dataset.options.replace(language_override=None)
    save_dataset(dataset, args.dataset, force=True)  # the options named are the ones meant to change
    if args.json:
        print_json(dataset.options.to_dict())
    else:
        _print_options(dataset)
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from shared.cli.util import submit_job

    settings = SplitAudioSettings.from_args(args, base={"input_dir": str(args.source.absolute()),
                                                        "output_dir": str(args.target.absolute())})
    return submit_job(args, "split_audio", settings.to_dict())


def _print_options(dataset: Dataset) -> None:
    o = dataset.options
    print(f"dataset  {o.name}: {len(dataset.samples)} samples in {dataset.audio_folder()}")
    print(f"trigger  {o.trigger_word or '(none)'} ({o.tag_position}); genre ratio {o.genre_ratio:g} "
          f"(seed {o.genre_ratio_seed}); language override {o.language_override or '(none)'}")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
