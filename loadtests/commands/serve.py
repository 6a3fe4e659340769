"""``serve flask|fastapi``: run one service in the foreground, as the runner would."""

from __future__ import annotations

import argparse
import time
from typing import Any

from loadtests import database, launcher
from loadtests.infra.postgres import EmbeddedPostgres
from loadtests.paths import state_dir
from services.common.urls import redacted

# Options that override one service setting: (option, environment variable, type, help).
SETTING_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("--workers", "WEB_WORKERS", int, "worker processes (default 1)"),
    ("--threads", "WEB_THREADS", int, "Flask threads per worker (default 20)"),
    ("--pool-size", "DB_POOL_SIZE", int, "pooled connections per worker (default 20)"),
    ("--max-overflow", "DB_MAX_OVERFLOW", int, "overflow connections per worker (default 0)"),
    ("--json-encoder", "JSON_ENCODER", str, "pydantic or orjson, on both services"),
    ("--statement-cache", "DB_STATEMENT_CACHE", str, "asyncpg prepared statements: auto, on, off"),
    ("--data-access", "DATA_ACCESS", str, "FastAPI data-access mode (default orm)"),
)


def _flag(option: str, renamed: dict[str, str]) -> str:
    return renamed.get(option, option)


def _dest(option: str) -> str:
    return "setting_" + option.lstrip("-").replace("-", "_")


def add_settings_options(
    parser: argparse.ArgumentParser, renamed: dict[str, str] | None = None
) -> None:
    """Options that override the service settings (environment variables) for one command;
    ``renamed`` maps an option to another flag where the command uses the name itself."""
    group = parser.add_argument_group("service settings (override the environment)")
    for option, env, kind, text in SETTING_OPTIONS:
        flag = _flag(option, renamed or {})
        group.add_argument(flag, dest=_dest(option), type=kind, help=f"{text}; sets {env}")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    values = {env: getattr(args, _dest(option), None) for option, env, _, _ in SETTING_OPTIONS}
    if getattr(args, "port", None) is not None:
        values["WEB_PORT"] = args.port
    return values


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the Flask or FastAPI service in the foreground",
        description=(
            "Start the database if needed (seeding it on first use), then run one service "
            "on 127.0.0.1 until Ctrl-C."
        ),
    )
    parser.add_argument("service", choices=sorted(launcher.SERVICES))
    parser.add_argument("--port", type=int, help="TCP port (WEB_PORT, default 8000)")
    add_settings_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    started_database = EmbeddedPostgres().status() is None and database.external_url() is None
    target = database.current_target(start=True)
    try:
        return _serve(args, target)
    finally:
        if started_database:  # like `run` and `ui`: stop only what this command started
            EmbeddedPostgres().down()


def _serve(args: argparse.Namespace, target: database.Target) -> int:
    service = launcher.kind(args.service)
    database.ensure_seeded(target)
    settings = launcher.build_settings(target.url, overrides(args))
    launcher.check_budget(service, settings, target.url)
    log_path = state_dir() / "logs" / f"serve-{service.name}.log"
    process = launcher.start(service, settings, log_path)
    print(f"{service.stack} on {launcher.base_url(settings)}  ({service.describe(settings)})")
    print(f"database: {redacted(settings.database_url)}")
    for name, value in service.own_settings(settings).items():
        print(f"  {name} = {value}")
    print(f"log: {log_path}   (Ctrl-C stops the service and all its workers)", flush=True)
    try:
        while process.alive():
            time.sleep(0.5)
        print(f"the service exited with code {process.popen.returncode}: {process.log_tail()}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        return 0
    finally:
        process.stop()
