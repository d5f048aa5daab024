"""`python -m daemon.demo [--root ROOT]`: write the demo checkpoint, captioner, transcriber and dataset.

ROOT defaults to $ACESTEP_DEMO_ROOT or ./demo_assets; the checkpoint goes to ROOT/checkpoints and
the dataset to ROOT/dataset. Both are deterministic from the seed and skipped when up to date.
This lives on the daemon side because it builds models with torch; `make demo` and `make run`
call it before the daemon starts.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from daemon.caption.demo_models import write_demo_captioners
from daemon.dataset_demo import write_demo_dataset
from daemon.models.demo_checkpoint import write_demo_checkpoint

ENV_DEMO_ROOT = "ACESTEP_DEMO_ROOT"


def write_demo_assets(root: Path, seed: int = 0) -> dict:
    """Write (or keep, when up to date) the demo checkpoint and dataset under `root`."""
    checkpoint = write_demo_checkpoint(root / "checkpoints", seed)
    captioners = write_demo_captioners(root / "checkpoints", seed)
    dataset = write_demo_dataset(root / "dataset", seed)
    return {"checkpoint": checkpoint, "captioners": captioners, "dataset": str(dataset)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m daemon.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--root", help=f"where to write (default: ${ENV_DEMO_ROOT} or ./demo_assets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = Path(args.root or os.environ.get(ENV_DEMO_ROOT) or "demo_assets").expanduser().absolute()
    result = write_demo_assets(root, args.seed)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    state = "written" if result["checkpoint"]["written"] else "already up to date"
    print(f"demo checkpoint {state}: {result['checkpoint']['dit']}")
    print(f"demo captioner and transcriber (random weights, their text is noise): {result['captioners']['captioner']}, "
          f"{result['captioners']['transcriber']}")
    print(f"demo dataset: {result['dataset']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
