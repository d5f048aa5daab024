"""`acestep-studio pipeline DIR --trigger WORD`: a folder of songs to an exported adapter with samples.

    acestep-studio pipeline ./my_songs --trigger mystyle --wait
    acestep-studio pipeline ./my_songs --trigger mystyle --provider local --epochs 300 --wait
    acestep-studio pipeline ./my_songs --trigger mystyle --preprocess-set normalize=lufs --train-set rank=32

One `pipeline` job runs scan, label, preprocess, train, export and samples, each a job of its own;
run it again and it goes on from the first stage not done with these settings. With --wait the
stages and their jobs' progress are followed, then the adapter, the ComfyUI file and the samples
are printed. Flags are derived from PipelineSettings (shared/pipeline_settings.py).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from shared.cli.util import client_from_args, print_json, progress_line, submit_job
from shared.client import FINISHED, StudioClient
from shared.pipeline_settings import PipelineSettings

FLAGS = ("checkpoint", "provider", "preset", "adapter_type", "epochs", "sample_prompts", "sample_seconds",
         "sample_seed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="a folder of songs to a trained, exported adapter with samples, in one job")
    p.add_argument("folder", metavar="DIR", help=PipelineSettings.spec("folder").help)
    p.add_argument("--trigger", "--trigger-word", dest="trigger_word", metavar="WORD",
                   help=PipelineSettings.spec("trigger_word").help)
    PipelineSettings.add_arguments(p, only=FLAGS)
    p.add_argument("--preprocess-set", dest="preprocess_overrides", action="append", metavar="KEY=VALUE",
                   help="a preprocessing setting, repeatable (see `settings preprocess`)")
    p.add_argument("--train-set", dest="train_overrides", action="append", metavar="KEY=VALUE",
                   help="a training setting, repeatable, applied last (see `settings train`)")
    p.add_argument("--wait", action="store_true", help="follow the stages; exit non-zero unless the pipeline ends done")
    p.set_defaults(func=cmd_pipeline)


def cmd_pipeline(args: argparse.Namespace) -> int:
    args.folder = os.path.abspath(os.path.expanduser(args.folder))  # the daemon runs in its own folder
    settings = PipelineSettings.from_args(args)
    if not args.wait:
        return submit_job(args, "pipeline", settings.to_dict())
    client = client_from_args(args)
    job_id = client.submit("pipeline", settings.to_dict())
    if not args.json:
        print(f"pipeline job {job_id} submitted", file=sys.stderr)
    job = follow(client, job_id, args.json)
    if args.json:
        print_json({"job": job})
    else:
        print_outcome(job)
    return 0 if job["state"] == "done" else 1


def follow(client: StudioClient, job_id: str, as_json: bool = False) -> dict:
    """Print the pipeline's stages and its child jobs' progress and logs until it ends; its summary."""
    children: set[str] = set()
    tty = sys.stderr.isatty() and not as_json

    def show(event: dict) -> None:
        data, owner = event.get("data") or {}, event.get("job_id")
        if event["type"] == "job_state" and data.get("parent") == job_id:
            children.add(data["id"])
        if owner != job_id and owner not in children:
            return
        if as_json:
            print(json.dumps(event, default=str), flush=True)
        elif event["type"] == "pipeline_stage":
            jobs = f" (job {', '.join(data['jobs'])})" if data.get("jobs") else ""
            reason = f": {data['reason']}" if data.get("reason") else ""
            print(("\n" if tty else "") + f"== {data['stage']}: {data['state']}{jobs}{reason}", file=sys.stderr,
                  flush=True)
        elif event["type"] == "progress" and owner in children:
            line = progress_line(data)
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        elif event["type"] == "log":
            print(("\n" if tty else "") + f"{data.get('level', 'info')}: {data.get('message')}", file=sys.stderr,
                  flush=True)

    with client.subscribe() as stream:
        for event in stream.history():
            show(event)
        job = client.job(job_id)
        while job["state"] not in FINISHED:
            for event in stream.drain(0.5):
                show(event)
            job = client.job(job_id)
        for event in stream.drain(0.2):
            show(event)
    return job


def print_outcome(job: dict) -> None:
    """The end state and, for a finished pipeline, what it made (on stdout; --json for scripts)."""
    print(f"pipeline {job['id']}: {job['state']}", file=sys.stderr)
    if job.get("error"):
        print(f"error: {job['error']['evalue']}", file=sys.stderr)
    result = job.get("result") or {}
    if job["state"] != "done":
        return
    for label, key in (("adapter", "adapter"), ("ComfyUI file", "comfyui"), ("training run", "train_run")):
        if result.get(key):
            print(f"{label}: {result[key]}")
    for path in (result.get("samples") or {}).get("files", []):
        print(f"sample: {path}")
