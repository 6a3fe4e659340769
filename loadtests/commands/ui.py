"""``ui VARIANT``: the Locust web UI against one running variant."""

from __future__ import annotations

import argparse
import os
import sys
import time
import webbrowser
from typing import Any

from loadtests.commands.service_options import (
    add_settings_options,
    add_variants_option,
    known_variants,
    overrides,
    variant_help,
)
from loadtests.infra import cpu, database
from loadtests.infra.ports import check_port
from loadtests.infra.postgres import server_processes
from loadtests.paths import state_dir
from loadtests.plan import PROFILES
from loadtests.run import generator
from loadtests.run.service import ServiceUnderTest
from loadtests.variants import resolve


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "ui",
        help="Locust's web UI on 127.0.0.1:8089 against one variant",
        description=(
            "Start the database and one variant's service (pinned like a run), then Locust's "
            "web UI with every scenario and the rising-concurrency shape (RisingSteps) "
            "selectable. Ctrl-C stops everything it started."
        ),
    )
    parser.add_argument("variant", help=f"a variant: {variant_help()}, or one of --variants")
    add_variants_option(parser)
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
    (variant,) = resolve(args.variant, known_variants(args))
    with database.command_target() as target:
        seed = database.ensure_seeded(target)
        database.reset(target)
        layout = cpu.plan_layout(not args.no_pin)
        service = ServiceUnderTest.prepare(variant, target.url, layout, overrides(args), args.port)
        logs = state_dir() / "logs"
        tag = variant.name.replace(":", "_")
        with service.start(logs / f"ui-{tag}.log"):
            return _serve_ui(args, service, target, seed["spec"], layout, logs, tag)


def _serve_ui(
    args: argparse.Namespace,
    service: ServiceUnderTest,
    target: database.Target,
    seed_spec: dict[str, Any],
    layout: cpu.CpuLayout,
    logs: Any,
    tag: str,
) -> int:
    locust = None
    try:
        with cpu.pinned_to_others(layout, lambda: server_processes(target.embedded)):
            locust_log = logs / f"ui-locust-{tag}.log"
            locust = generator.start(
                ["--web-host", "127.0.0.1", "--web-port", str(args.web_port), "--class-picker",
                 *generator.plan_args(PROFILES["default"].scenarios[0].plan)],
                service.url, seed_spec, locust_log, layout.other_cpus if layout.pinned else None,
            )  # fmt: skip
            url = f"http://127.0.0.1:{args.web_port}"
            print(f"{service.label} on {service.url} ({service.describe()})")
            print(
                f"Locust web UI: {url}  "
                "(pick a scenario, and RisingSteps as the shape for rising load)"
            )
            print(f"{layout.note}; logs in {logs}; Ctrl-C stops everything")
            if not args.no_browser and _can_open_browser():
                webbrowser.open(url)
            offset = 0
            while locust.alive() and service.alive():
                offset = generator.forward_progress(locust_log, offset)
                time.sleep(0.5)
            which = "Locust" if not locust.alive() else f"the {service.label} service"
            print(f"{which} exited; stopping the rest (see {logs})")
            return 1
    except KeyboardInterrupt:
        print("\nstopping...")
        return 0
    finally:
        if locust is not None:
            locust.stop()
