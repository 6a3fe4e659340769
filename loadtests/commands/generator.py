"""``generator``: the load generator's own ceiling on a trivial endpoint, one process
against a distributed setup (loadtests/run/generator_ceiling.py; README, "Running on
more than one machine")."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadtests import files
from loadtests.commands.generator_options import (
    add_generator_options,
    local_processes,
    remote_workers,
)
from loadtests.errors import SuiteError
from loadtests.paths import REPORTS_DIR
from loadtests.run import generator_ceiling
from loadtests.run.generator_ceiling import Distributed


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "generator",
        help="the load generator's own ceiling on a trivial endpoint: one process against "
        "a master and its workers",
        description=(
            "Drive a trivial endpoint (GET /health from one pre-built answer) with the "
            "suite's own Locust users, as fast as they go: one process, then a master with "
            "--workers local processes, or with the --expect-workers that join it from "
            "other hosts (`python -m loadtests worker --master HOST:PORT`), in alternating "
            "order. Prints each setup's requests per second, the generators' CPU, the ratio "
            "with a 95% interval, and whether every response was accounted for."
        ),
    )
    parser.add_argument(
        "--users", type=int, default=100, help="users in each setup, split across its "
        "workers (default 100)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per turn")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    add_generator_options(parser, default_processes=2)
    parser.add_argument("--out", type=Path, default=REPORTS_DIR, help="where its directory goes")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    remote = remote_workers(args)
    processes = 1 if remote else local_processes(args)
    if remote is None and processes < 2:
        raise SuiteError("--workers must be at least 2 (or use --master-bind): one is the baseline")
    if not 1 <= args.repeat <= 20:
        raise SuiteError(f"--repeat must be between 1 and 20, got {args.repeat}")
    if not 2 <= args.users <= 5000:
        raise SuiteError(f"--users must be between 2 and 5000, got {args.users}")
    if not 3 <= args.seconds <= 600:
        raise SuiteError(f"--seconds must be between 3 and 600, got {args.seconds:g}")
    if args.out.exists() and not args.out.is_dir():
        raise SuiteError(f"--out {args.out} exists and is not a directory")
    distributed = Distributed(processes, remote)
    work = args.out.resolve() / f"generator-{files.stamp()}"
    print(
        f"the generator's ceiling: one process against {distributed.describe()}, "
        f"{args.repeat} repetition(s) of {args.users} users, {args.seconds:g} s measured",
        flush=True,
    )
    if remote is not None:
        print(
            f"waiting up to {remote.timeout_s:g} s for the workers at each distributed turn "
            f"(`python -m loadtests worker --master {remote.bind_host}:{remote.bind_port}`)",
            flush=True,
        )
    result = generator_ceiling.run(distributed, args.users, args.seconds, args.repeat, work)
    print(generator_ceiling.describe(result))
    print(f"details: {work / 'generator.json'}")
    unaccounted = [t for pair in result.repetitions for t in pair if not t.accounted]
    return 1 if unaccounted else 0
