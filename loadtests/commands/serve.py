"""``serve VARIANT``: run one variant's service in the foreground, as the runner would."""

from __future__ import annotations

import argparse
import time
from typing import Any

from loadtests.commands.service_options import (
    add_settings_options,
    add_variants_option,
    known_variants,
    overrides,
    variant_help,
)
from loadtests.infra import cpu, database
from loadtests.paths import state_dir
from loadtests.run.service import ServiceUnderTest
from loadtests.variants import resolve
from services.common.urls import redacted


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run one variant's service in the foreground",
        description=(
            "Start the database if needed (seeding it on first use), then run one variant's "
            "service on 127.0.0.1 until Ctrl-C."
        ),
    )
    parser.add_argument("variant", help=f"a variant: {variant_help()}, or one of --variants")
    add_variants_option(parser)
    parser.add_argument("--port", type=int, help="TCP port (WEB_PORT, default 8000)")
    add_settings_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    (variant,) = resolve(args.variant, known_variants(args))
    with database.command_target() as target:
        database.ensure_seeded(target)
        layout = cpu.plan_layout(pin=False)  # a foreground service gets every CPU
        port = args.port or int(overrides(args).get("WEB_PORT") or 8000)
        service = ServiceUnderTest.prepare(variant, target.url, layout, overrides(args), port)
        log_path = state_dir() / "logs" / f"serve-{variant.name.replace(':', '_')}.log"
        with service.start(log_path):
            print(f"{service.label} on {service.url}  ({service.describe()})")
            print(f"database: {redacted(service.settings.database_url)}")
            for name, value in service.values().items():
                print(f"  {name} = {value}")
            print(f"log: {log_path}   (Ctrl-C stops the service and all its workers)", flush=True)
            try:
                while service.alive():
                    time.sleep(0.5)
            except KeyboardInterrupt:
                print("\nstopping...")
                return 0
            assert service.process is not None
            code = service.process.popen.returncode
            print(f"the service exited with code {code}: {service.process.log_tail()}")
            return 1
