"""``noise-band RUN_DIR...``: this machine's noise band, from A/A runs
(loadtests/results/noise.py)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from loadtests.paths import state_dir
from loadtests.results import noise, store


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "noise-band",
        help="measure the noise band verdicts use, from A/A runs",
        description=(
            "Read runs that ran one configuration under two names (a --variants file with a "
            "copy of a variant, 2+ rounds), compare each identical pair step by step, and "
            "print the smallest band that calls all of them 'no significant difference'. "
            "--write keeps it for this machine's later runs."
        ),
    )
    parser.add_argument("runs", nargs="+", type=Path, help="report directories of A/A runs")
    parser.add_argument(
        "--write", action="store_true", help=f"save it as {state_dir() / noise.STATE_FILE}"
    )
    parser.add_argument("--out", type=Path, help="save it to this file instead")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    runs = [store.load(path) for path in args.runs]
    band, found = noise.calibrate(runs, ", ".join(r.run.id for r in runs))
    print("A/A comparisons (ratio of the copy to the original, paired by round, 95% CI):")
    for c in sorted(found, key=lambda c: -c.miss):
        flag = f"  misses 1 by {math.exp(c.miss) - 1:.1%}" if c.miss else ""
        print(
            f"  {c.scenario} {c.pair[1]}/{c.pair[0]} {c.users:>5} users {c.metric:>10}: "
            f"{c.ratio:.3f} ({c.low:.3f}-{c.high:.3f}){flag}"
        )
    cvs = noise.round_cvs(runs)
    print("round-to-round CV (median over variants and steps): " + ", ".join(
        f"{metric} {cv:.1%}" for metric, cv in cvs.items()
    ))  # fmt: skip
    print(f"noise band: {band.ratio:.2f}x either way ({band.source})")
    target = args.out or (state_dir() / noise.STATE_FILE if args.write else None)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(band.model_dump_json(indent=1) + "\n")
        print(f"written: {target}")
    return 0
