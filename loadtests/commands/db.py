"""``db up|down|status|url|seed|reset|destroy``: the database the suite runs against."""

from __future__ import annotations

import argparse
from typing import Any

from loadtests.errors import SuiteError
from loadtests.infra import database
from loadtests.infra.postgres import EmbeddedPostgres, ServerState
from services.common.seed import SeedSpec
from services.common.urls import redacted

ACTIONS = ("up", "down", "status", "url", "seed", "reset", "destroy")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "db",
        help="manage the database: up, down, status, url, seed, reset, destroy",
        description=(
            "Start, stop, seed or reset the embedded PostgreSQL. With DATABASE_URL set, "
            "the server it names is used instead and nothing is started or stopped."
        ),
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument(
        "--port",
        type=int,
        help="up: TCP port on 127.0.0.1 (default: the last one if it is free, else a free one)",
    )
    defaults = SeedSpec()
    sizes = parser.add_argument_group("seed sizes")
    for name, value in defaults.as_dict().items():
        sizes.add_argument(f"--{name}", type=int, default=value, help=f"(default {value})")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    external = database.external_url()
    if args.action in ("up", "down", "destroy") and external:
        print(
            f"DATABASE_URL is set ({redacted(external)}): the suite uses that server and "
            f"does not {'start' if args.action == 'up' else 'stop'} anything"
        )
        return 0
    return int(_ACTIONS[args.action](args) or 0)


def _describe(state: ServerState) -> str:
    run_as = f", running as {state.run_as}" if state.run_as else ""
    return (
        f"PostgreSQL {state.version} on 127.0.0.1:{state.port} "
        f"(pid {state.pid}, data {state.data_dir}{run_as})"
    )


def _up(args: argparse.Namespace) -> None:
    state, started = EmbeddedPostgres().up(args.port)
    if started and state.moved_from is not None:
        print(
            f"port {state.moved_from} is in use now, so PostgreSQL moved to port {state.port}: "
            "restart services that use the old URL"
        )
    print(f"{'started' if started else 'already running'}: {_describe(state)}")
    print(f"url: {redacted(state.url())}  (full URL: `python -m loadtests db url`)")


def _down(_: argparse.Namespace) -> None:
    state = EmbeddedPostgres().down()
    print(f"stopped: {_describe(state)}" if state else "not running: nothing to stop")


def _destroy(_: argparse.Namespace) -> None:
    server = EmbeddedPostgres()
    server.destroy()
    print(f"stopped and deleted the embedded database in {server.layout.runtime_dir}")


def _status(_: argparse.Namespace) -> int:
    target = database.external_url()
    if target:
        settings = database.server_settings(target)
        print(f"DATABASE_URL: {redacted(target)}\nreachable: {settings['version']}")
    else:
        state = EmbeddedPostgres().status()
        if state is None:
            print("not running (start it with `python -m loadtests db up`)")
            return 1
        print(f"running: {_describe(state)}\nurl: {redacted(state.url())}")
    info = database.seed_info(database.current_target())
    if info:
        rows = ", ".join(f"{table} {count:,}" for table, count in info["rows"].items())
        print(f"seeded: {rows} (checksum {info['checksum'][:12]})")
    else:
        print("seeded: no (run `python -m loadtests db seed`)")
    return 0


def _url(_: argparse.Namespace) -> None:
    print(database.current_target().url)


def _seed(args: argparse.Namespace) -> None:
    try:
        spec = SeedSpec(**{name: getattr(args, name) for name in SeedSpec().as_dict()})
    except ValueError as exc:
        raise SuiteError(str(exc)) from None
    target = database.current_target()
    print(
        f"seeding {target.describe()}: "
        + ", ".join(f"{k}={v:,}" for k, v in spec.as_dict().items())
    )
    info = database.seed(target, spec)
    rows = ", ".join(f"{table} {count:,}" for table, count in info["rows"].items())
    print(f"seeded in {info['seed_seconds']:.1f} s: {rows}")
    print(f"checksum {info['checksum']}")
    print(f"'{target.name}' reset from the seed template in {info['reset_seconds']:.2f} s")


def _reset(_: argparse.Namespace) -> None:
    target = database.current_target()
    seconds = database.reset(target)
    print(f"'{target.name}' reset to the seeded state in {seconds:.2f} s")


_ACTIONS = {
    "up": _up,
    "down": _down,
    "status": _status,
    "url": _url,
    "seed": _seed,
    "reset": _reset,
    "destroy": _destroy,
}
