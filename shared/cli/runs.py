"""`runs`: every run the daemon's studio home holds, with its state, best loss and outputs.

    acestep-studio runs                 # newest first: state, steps, best loss, where the adapter is
    acestep-studio runs --kind train    # only training runs
    acestep-studio runs --json          # everything the daemon's `runs` command answers

The daemon reads the run folders (it may be on another machine); this verb only prints.
"""
from __future__ import annotations

import argparse

from shared.cli.util import client_from_args, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="the runs in the studio home: state, best loss, final adapter, checkpoints")
    p.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                   help="only runs of this job kind, e.g. train (repeatable)")
    p.set_defaults(func=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    content = {"kinds": args.kinds} if args.kinds else {}
    runs = client_from_args(args).request("runs", content)["runs"]
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print("no runs yet")
    for run in runs:
        print("\n".join(describe(run)))
    return 0


def describe(run: dict) -> list[str]:
    """A run as a few lines: its headline, its settings, then each output with its epoch."""
    head = [run["id"], run["kind"], run["state"] or "?"]
    if run.get("last_step") is not None:
        head.append(f"{run['last_step']} steps")
    if run.get("best_loss") is not None:
        head.append(f"best loss {run['best_loss']:.4g} at epoch {run.get('best_epoch')}")
    elif run.get("last_loss") is not None:
        head.append(f"last loss {run['last_loss']:.4g}")
    lines = ["  ".join(head)]
    if run.get("summary"):
        lines.append(f"    {run['summary']}")
    if run.get("error"):
        lines.append(f"    error: {run['error']}")
    if run.get("resumed_from"):
        lines.append(f"    resumed from {run['resumed_from']}")
    for output in run.get("outputs") or []:
        facts = [f"epoch {output['epoch']}" if output.get("epoch") is not None else "",
                 f"step {output['step']}" if output.get("step") is not None else "",
                 "resumable" if output.get("resumable") else ""]
        said = ", ".join(f for f in facts if f)
        lines.append(f"    {output['name']:<22} {output['path']}" + (f"  ({said})" if said else ""))
    if not run.get("outputs") and run["kind"] == "train":
        lines.append("    no adapter saved")
    return lines
