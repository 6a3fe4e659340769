"""``serve flask|fastapi``: run one service in the foreground, as the runner would."""

from __future__ import annotations

import argparse
import time
from typing import Any

from loadtests import database, launcher
from loadtests.commands.service_options import add_settings_options, overrides
from loadtests.paths import state_dir
from services.common.urls import redacted


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
    with database.command_target() as target:
        return _serve(args, target)


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
