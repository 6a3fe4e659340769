"""``serve flask|fastapi``: run one service in the foreground, as the runner would."""

from __future__ import annotations

import argparse
import time
from typing import Any

from loadtests import database, services
from loadtests.paths import state_dir
from services.common.seed import SeedSpec
from services.common.urls import redacted

# Options that override one service setting: (option, environment variable, type, help).
SETTING_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("--workers", "WEB_WORKERS", int, "worker processes (default 1)"),
    ("--threads", "WEB_THREADS", int, "Flask threads per worker (default 20)"),
    ("--pool-size", "DB_POOL_SIZE", int, "pooled connections per worker (default 20)"),
    ("--max-overflow", "DB_MAX_OVERFLOW", int, "overflow connections per worker (default 0)"),
    ("--json-encoder", "JSON_ENCODER", str, "pydantic or orjson, on both services"),
    ("--data-access", "DATA_ACCESS", str, "FastAPI data-access mode (default orm)"),
)


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """Options that override the service settings (environment variables) for one command."""
    group = parser.add_argument_group("service settings (override the environment)")
    for option, env, kind, text in SETTING_OPTIONS:
        group.add_argument(option, type=kind, help=f"{text}; sets {env}")


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
    parser.add_argument("service", choices=sorted(services.SERVICES))
    parser.add_argument("--port", type=int, help="TCP port (WEB_PORT, default 8000)")
    add_settings_options(parser)
    parser.set_defaults(handler=handle)


def ensure_seeded(target: database.Target) -> None:
    if database.seed_info(target) is None:
        print(f"seeding {target.describe()} with the default data set (first use)...")
        info = database.seed(target, SeedSpec())
        print(f"seeded in {info['seed_seconds']:.1f} s")


def handle(args: argparse.Namespace) -> int:
    service = services.kind(args.service)
    target = database.current_target(start=True)
    ensure_seeded(target)
    settings = services.build_settings(target.url, overrides(args))
    services.check_budget(service, settings, target.url)
    log_path = state_dir() / "logs" / f"serve-{service.name}.log"
    process = services.start(service, settings, log_path)
    print(f"{service.stack} on {services.base_url(settings)}  ({service.describe(settings)})")
    print(f"database: {redacted(settings.database_url)}")
    for name, value in settings.public().items():
        print(f"  {name} = {value}")
    print(f"log: {log_path}   (Ctrl-C stops the service and all its workers)")
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
