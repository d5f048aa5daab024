"""The daemon verbs: status, jobs, submit, cancel, stop, action, logs, shutdown."""
from __future__ import annotations

import argparse
import json
import time

from shared.cli.util import (client_from_args, format_bytes, format_seconds, print_json, print_table, progress_line,
                              submit_job)
from shared.client import FINISHED
from shared.errors import SettingsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="the daemon's state: device, models, running job, queue")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("jobs", help="every job this daemon knows, oldest first")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("submit", help="queue a job of any kind, e.g. `submit selftest --set steps=5 --wait`")
    p.add_argument("kind")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting (repeatable)")
    p.add_argument("--settings", metavar="FILE", help="a JSON file of settings (--set wins)")
    p.add_argument("--wait", action="store_true", help="follow the job; exit non-zero unless it succeeds")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("cancel", help="cancel a queued job")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("stop", help="stop the running job gracefully (it saves first)")
    p.add_argument("job_id", nargs="?")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("action", help="ask the running job for an action it supports, e.g. save_now")
    p.add_argument("name")
    p.add_argument("job_id", nargs="?")
    p.set_defaults(func=cmd_action)

    p = sub.add_parser("logs", help="a job's events; --follow until it ends")
    p.add_argument("job_id")
    p.add_argument("--follow", "-f", action="store_true")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("shutdown", help="stop the daemon (the running job saves first)")
    p.set_defaults(func=cmd_shutdown)


def cmd_status(args: argparse.Namespace) -> int:
    snap = client_from_args(args).status()
    if args.json:
        print_json(snap)
        return 0
    device = snap.get("device") or {}
    print(f"daemon   pid {snap['pid']}, up {format_seconds(snap['uptime_s'])}, session {snap['daemon_session'][:8]}")
    print(f"home     {snap['home']}")
    print(f"device   {device.get('device', '?')}{'' if device.get('resolved', True) else ' (not resolved yet)'}")
    print(f"models   {models_line(snap.get('models') or {})}")
    running = snap.get("running")
    if running:
        print(f"running  {running['id']} ({running['kind']})  {progress_line(running.get('progress') or {})}")
    else:
        print("running  nothing")
    print(f"queue    {len(snap['queue'])} waiting")
    for job in snap["queue"]:
        print(f"         {job['id']} ({job['kind']})")
    return 0


def models_line(models: dict) -> str:
    """What the status reply's `models` (the model manager's snapshot) says is loaded, where."""
    selected = (models.get("selected") or {}).get("name")
    components = models.get("components") or {}
    if not components:
        return f"none loaded{f' ({selected} selected)' if selected else ''}"
    in_use = set(models.get("in_use") or {})
    parts = []
    for name, item in components.items():
        devices = ", ".join(sorted(set((item.get("placement") or {}).values()))) or "?"
        busy = ", in use" if in_use & set(item.get("placement") or {}) else ""
        parts.append(f"{name} ({devices}, {format_bytes(item.get('bytes'))}{busy})")
    return f"{selected or '?'}: {'; '.join(parts)}"


def cmd_jobs(args: argparse.Namespace) -> int:
    jobs = client_from_args(args).jobs()
    if args.json:
        print_json(jobs)
        return 0
    rows = [{**j, "progress": f"{(j['progress'].get('fraction') or 0) * 100:.0f}%" if j["progress"] else "",
             "error": (j.get("error") or {}).get("evalue")} for j in jobs]
    print_table(rows, ["id", "kind", "state", "progress", "error"])
    return 0


def _settings_from(args: argparse.Namespace) -> dict:
    settings: dict = {}
    if args.settings:
        try:
            settings = json.loads(open(args.settings, encoding="utf-8").read())
        except (OSError, ValueError) as err:
            raise SettingsError(f"{args.settings}: cannot read settings JSON: {err}") from None
    for pair in args.set:
        if "=" not in pair:
            raise SettingsError(f"--set {pair!r}: expected key=value")
        key, text = pair.split("=", 1)
        try:
            settings[key.strip()] = json.loads(text)
        except ValueError:
            settings[key.strip()] = text  # a bare string; the daemon checks its type
    return settings


def cmd_submit(args: argparse.Namespace) -> int:
    return submit_job(args, args.kind, _settings_from(args))


def cmd_cancel(args: argparse.Namespace) -> int:
    job = client_from_args(args).cancel(args.job_id)
    print_json(job) if args.json else print(f"job {job['id']}: {job['state']}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    job = client_from_args(args).stop(args.job_id)
    print_json(job) if args.json else print(f"job {job['id']}: stopping (it saves first)")
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    reply = client_from_args(args).action(args.name, args.job_id)
    print_json(reply) if args.json else print(f"job {reply['job']['id']}: {args.name} requested")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    seen = 0
    while True:
        reply = client.request("job_events", {"job_id": args.job_id, "since": seen})
        for event in reply["events"]:
            seen = event["seq"]
            print(json.dumps(event, default=str) if args.json else _format_event(event), flush=True)
        if not args.follow or reply["job"]["state"] in FINISHED:
            return 0
        time.sleep(0.5)


def _format_event(event: dict) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event["time"]))
    data = event["data"]
    if event["type"] == "log":
        text = f"{data.get('level', 'info')}: {data.get('message')}"
    elif event["type"] == "progress":
        text = progress_line(data)
    elif event["type"] == "job_state":
        text = f"state {data.get('state')}"
    elif event["type"] == "error":
        text = f"{data.get('ename')}: {data.get('evalue')}"
    else:
        text = json.dumps(data, default=str)
    return f"{stamp} #{event['seq']:<6} {event['type']:<10} {text}"


def cmd_shutdown(args: argparse.Namespace) -> int:
    client_from_args(args).shutdown()
    print_json({"shutting_down": True}) if args.json else print("daemon shutting down")
    return 0
