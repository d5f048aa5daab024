"""Model verbs: checkpoints, load, unload, gpu, all through the daemon.

The demo assets are written on the daemon side (`python -m daemon.demo`, run by `make run`).
"""
from __future__ import annotations

import argparse
from shared.cli.util import client_from_args, format_bytes, print_json, print_table, submit_job


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("checkpoints", help="the checkpoint roots and the checkpoints found in them")
    p.add_argument("--add", metavar="DIR", help="add a folder (or an ACE-Step install) to search")
    p.add_argument("--remove", metavar="DIR", help="stop searching a folder added with --add")
    p.set_defaults(func=cmd_checkpoints)

    p = sub.add_parser("load", help="select a checkpoint and load model components (a job)")
    p.add_argument("name", help="checkpoint folder name (see `checkpoints`) or path")
    p.add_argument("--components", nargs="+", default=["dit"], metavar="NAME",
                   help="what to load, e.g. dit vae text_encoder silence_latent (default: dit)")
    p.add_argument("--wait", action="store_true", help="follow the job; exit non-zero unless it succeeds")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("unload", help="unload model components (all by default) and free memory")
    p.add_argument("--components", nargs="+", metavar="NAME", help="what to unload (default: everything)")
    p.set_defaults(func=cmd_unload)

    p = sub.add_parser("gpu", help="GPU name, driver, memory, processes and the monitor's peak")
    p.set_defaults(func=cmd_gpu)



def cmd_checkpoints(args: argparse.Namespace) -> int:
    content = {k: v for k, v in (("add_root", args.add), ("remove_root", args.remove)) if v}
    reply = client_from_args(args).request("checkpoints", content)
    if args.json:
        print_json(reply)
        return 0
    print_table(reply["roots"], ["path", "source", "exists"])
    print()
    rows = [{**c, "size": format_bytes(c["size_bytes"]), "selected": "*" if c.get("selected") else ""}
            for c in reply["checkpoints"]]
    print_table(rows, ["selected", "name", "kind", "size", "path", "vae", "text_encoder"],
                ["", "NAME", "KIND", "SIZE", "PATH", "VAE", "TEXT ENCODER"])
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    return submit_job(args, "load", {"checkpoint": args.name, "components": list(args.components)})


def cmd_unload(args: argparse.Namespace) -> int:
    content = {"components": list(args.components)} if args.components else {}
    reply = client_from_args(args).request("unload", content)
    if args.json:
        print_json(reply)
    else:
        print(f"unloaded: {', '.join(reply['unloaded']) or 'nothing was loaded'}")
    return 0


def cmd_gpu(args: argparse.Namespace) -> int:
    reply = client_from_args(args).request("gpu", {})
    if args.json:
        print_json(reply)
        return 0
    if not reply["available"]:
        print(reply["reason"])
        return 0
    print(f"driver {reply['driver']}")
    rows = [{**d, "used": format_bytes(d["memory_used"]), "free": format_bytes(d["memory_free"]),
             "total": format_bytes(d["memory_total"]), "others": len(d["other_processes"])} for d in reply["devices"]]
    print_table(rows, ["index", "name", "compute_capability", "used", "free", "total", "used_percent", "others"],
                ["#", "NAME", "CC", "USED", "FREE", "TOTAL", "USED %", "OTHER PROCS"])
    for device in reply["devices"]:
        for proc in device["other_processes"]:
            print(f"  GPU {device['index']}: pid {proc['pid']} {proc['name']} uses {format_bytes(proc['used_bytes'])}")
    monitor = reply["monitor"]
    print(f"monitor: peak {monitor['peak_percent']}%, average {monitor['average_percent']}%, "
          f"alert at {monitor['alert_percent']}%")
    return 0

