"""Listening verbs: `generate` (clips from a checkpoint with an adapter at chosen strengths).

    acestep-studio generate --adapter .studio/runs/<job>/final --strength 1.0 --prompt "sks, lofi beat" \
        --seconds 20 --seed 1 --wait           # prints the file(s) it wrote

Flags are derived from GenerateSettings (shared/sample_settings.py); `--strength` may be repeated
(`--strength 0.5 --strength 1.5`) and is the same as `--strengths 0.5,1.5`. Paths are made absolute
here because the daemon runs in its own working directory.
"""
from __future__ import annotations

import argparse
import os
import sys

from shared.cli.util import client_from_args, submit_job, wait_for_job
from shared.sample_settings import GenerateSettings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate clips from a checkpoint with an adapter at chosen strengths")
    GenerateSettings.add_arguments(p)
    p.add_argument("--strength", dest="strength_list", type=float, action="append", metavar="FLOAT",
                   help="an adapter strength, repeatable (one clip each)")
    p.add_argument("--wait", action="store_true", help="follow the job, then print the files it wrote")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    settings = GenerateSettings.from_args(args)
    changes: dict = {}
    if args.strength_list:
        changes["strengths"] = args.strength_list
    if settings.adapter:
        changes["adapter"] = os.path.abspath(os.path.expanduser(settings.adapter))
    settings = settings.replace(**changes)
    return submit_and_print_files(args, "generate", settings.to_dict())


def submit_and_print_files(args: argparse.Namespace, kind: str, settings: dict) -> int:
    """`submit_job`, and with --wait the files the job wrote, one per line on stdout."""
    if not args.wait:
        return submit_job(args, kind, settings)
    client = client_from_args(args)
    job_id = client.submit(kind, settings)
    if not args.json:
        print(f"job {job_id} submitted", file=sys.stderr)
    code = wait_for_job(client, job_id, args)
    if code == 0 and not args.json:
        for path in (client.job(job_id).get("result") or {}).get("files", []):
            print(path)
    return code
