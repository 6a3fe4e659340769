"""``ui flask|fastapi``: the Locust web UI against one running service."""

from __future__ import annotations

import argparse
import os
import sys
import time
import webbrowser
from typing import Any

from loadtests import cpu, database, generator, launcher
from loadtests.commands.service_options import add_settings_options, overrides
from loadtests.infra.ports import check_port, free_port
from loadtests.infra.postgres import server_processes
from loadtests.paths import state_dir
from loadtests.plan import PROFILES


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "ui",
        help="Locust's web UI on 127.0.0.1:8089 against one service",
        description=(
            "Start the database and one service (pinned like a run), then Locust's web UI "
            "with every scenario and the rising-concurrency shape (RisingSteps) selectable. "
            "Ctrl-C stops everything it started."
        ),
    )
    parser.add_argument("service", choices=sorted(launcher.SERVICES))
    parser.add_argument(
        "--web-port", type=int, default=8089, help="the web UI's port (default 8089)"
    )
    parser.add_argument("--port", type=int, help="the service's port (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    add_settings_options(parser)
    parser.set_defaults(handler=handle)


def _can_open_browser() -> bool:
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def handle(args: argparse.Namespace) -> int:
    check_port(args.web_port, "Locust web UI")
    service = launcher.kind(args.service)
    with database.command_target() as target:
        return _serve_ui(args, service, target)


def _serve_ui(
    args: argparse.Namespace, service: launcher.ServiceKind, target: database.Target
) -> int:
    seed = database.ensure_seeded(target)
    database.reset(target)
    layout = cpu.plan_layout(not args.no_pin)
    chosen = launcher.with_default_workers(layout, target.url, overrides(args))
    settings = launcher.build_settings(target.url, {**chosen, "WEB_PORT": args.port or free_port()})
    launcher.check_budget(service, settings, target.url)
    logs = state_dir() / "logs"
    process = launcher.start(service, settings, logs / f"ui-{service.name}.log",
                             layout.service_cpus if layout.pinned else None)  # fmt: skip
    locust = None
    try:
        with cpu.pinned_to_others(layout, lambda: server_processes(target.embedded)):
            locust_log = logs / f"ui-locust-{service.name}.log"
            locust = generator.start(
                ["--web-host", "127.0.0.1", "--web-port", str(args.web_port), "--class-picker",
                 *generator.plan_args(PROFILES["default"].plan)],
                settings, seed["spec"], locust_log, layout.other_cpus if layout.pinned else None,
            )  # fmt: skip
            url = f"http://127.0.0.1:{args.web_port}"
            print(
                f"{service.stack} on {launcher.base_url(settings)} ({service.describe(settings)})"
            )
            print(
                f"Locust web UI: {url}  "
                "(pick a scenario, and RisingSteps as the shape for rising load)"
            )
            print(f"{layout.note}; logs in {logs}; Ctrl-C stops everything")
            if not args.no_browser and _can_open_browser():
                webbrowser.open(url)
            offset = 0
            while locust.alive() and process.alive():
                offset = generator.forward_progress(locust_log, offset)
                time.sleep(0.5)
            which = "Locust" if not locust.alive() else f"the {service.label} service"
            print(f"{which} exited; stopping the rest (see {logs})")
            return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        return 0
    finally:
        try:
            if locust is not None:
                locust.stop()
        finally:
            process.stop()
