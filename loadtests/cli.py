"""``python -m loadtests``: the suite's command line.

Errors the user can act on (``SuiteError``) end the command with one line on stderr and
exit code 2; Ctrl-C ends it with 130 after the command has stopped what it started.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import sys
from types import FrameType
from typing import NoReturn

from loadtests.commands import (
    calibrate,
    capacity,
    check,
    claims,
    db,
    generator,
    overhead,
    report,
    run,
    serve,
    settings,
    ui,
    worker,
)
from loadtests.errors import SuiteError

OPEN_FILES = 16_384


class _Parser(argparse.ArgumentParser):
    """argparse, but bad arguments exit with the suite's one-line error convention."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m loadtests", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (
        db,
        serve,
        run,
        capacity,
        check,
        worker,
        generator,
        ui,
        report,
        overhead,
        calibrate,
        settings,
        claims,
    ):
        module.add_parser(commands)
    return parser


def _interrupt(signum: int, _: FrameType | None) -> None:
    # SIGTERM and SIGHUP take the same path as Ctrl-C, so every `finally` that stops a
    # child process runs; Python's default would exit and orphan them. Only the first
    # one interrupts: a second Ctrl-C must not cut the clean-up short.
    for other in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(other, signal.SIG_IGN)
    print("\nstopping everything this command started (a few seconds)...", file=sys.stderr)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _raise_open_files_limit() -> None:
    """Children inherit it: 1,000 users mean over 1,000 sockets in Locust and in the service,
    more than the common default soft limit of 1,024."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _raise_open_files_limit()
    # Also SIGINT: a shell starts background jobs with SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored; the suite must always stop what it started.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        return int(args.handler(args) or 0)
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
