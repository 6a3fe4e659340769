"""Command-line options shared by ``run``, ``generator`` and ``capacity``: how many Locust
processes generate the load, here (``--workers``) or as workers that join from other
hosts (``--master-bind``, ``--expect-workers``; not ``capacity``)."""

from __future__ import annotations

import argparse

from loadtests.errors import SuiteError
from loadtests.infra.ports import check_port, parse_address
from loadtests.run.generator import RemoteWorkers

MAX_LOCAL_PROCESSES = 32
MAX_REMOTE_WORKERS = 64


def add_local_option(parser: argparse.ArgumentParser, default_processes: int = 1) -> None:
    """``--workers``: Locust processes here (read with ``local_processes``)."""
    parser.add_argument(
        "--workers",
        type=int,
        help=f"Locust processes generating load here (default {default_processes})",
    )
    parser.set_defaults(default_processes=default_processes)


def add_generator_options(parser: argparse.ArgumentParser, default_processes: int = 1) -> None:
    """``--workers``, and the master's options for workers on other hosts."""
    add_local_option(parser, default_processes)
    parser.add_argument(
        "--master-bind",
        metavar="HOST:PORT",
        help="make Locust the master of workers on other hosts, listening at HOST:PORT "
        "(each joins with `python -m loadtests worker --master HOST:PORT`)",
    )
    parser.add_argument(
        "--expect-workers", type=int, help="with --master-bind: the workers to wait for"
    )
    parser.add_argument(
        "--workers-timeout",
        type=float,
        default=60.0,
        help="with --master-bind: how long to wait for them (default 60 s)",
    )


def local_processes(args: argparse.Namespace) -> int:
    """Locust processes here: ``--workers``, or the command's default."""
    processes = int(args.workers if args.workers is not None else args.default_processes)
    if not 1 <= processes <= MAX_LOCAL_PROCESSES:
        raise SuiteError(f"--workers must be between 1 and {MAX_LOCAL_PROCESSES}, got {processes}")
    return processes


def remote_workers(args: argparse.Namespace) -> RemoteWorkers | None:
    """Workers on other hosts, or None; one line for what does not go together."""
    if args.master_bind is None and args.expect_workers is None:
        return None
    if args.master_bind is None or args.expect_workers is None:
        raise SuiteError("--master-bind and --expect-workers go together")
    host, port = parse_address(args.master_bind, "--master-bind")
    if not 1 <= args.expect_workers <= MAX_REMOTE_WORKERS:
        raise SuiteError(
            f"--expect-workers must be between 1 and {MAX_REMOTE_WORKERS}, "
            f"got {args.expect_workers}"
        )
    if args.workers is not None:
        raise SuiteError(
            "--workers starts local Locust processes; with --master-bind every worker joins "
            "with `python -m loadtests worker` (on this host too)"
        )
    if not 1 <= args.workers_timeout <= 3600:
        raise SuiteError(f"--workers-timeout must be 1-3600 s, got {args.workers_timeout:g}")
    check_port(port, "--master-bind", host)
    return RemoteWorkers(host, port, args.expect_workers, args.workers_timeout)
