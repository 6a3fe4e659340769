"""Command-line options that override the services' settings, shared by serve, run and ui.

Each option sets one environment variable of ``services/common/settings.py`` for the
services a command starts; the table keeps option, variable and help in one place.
"""

from __future__ import annotations

import argparse
from typing import Any

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


def _dest(option: str) -> str:
    return "setting_" + option.lstrip("-").replace("-", "_")


def add_settings_options(
    parser: argparse.ArgumentParser, renamed: dict[str, str] | None = None
) -> None:
    """Options that override the service settings (environment variables) for one command;
    ``renamed`` maps an option to another flag where the command uses the name itself."""
    group = parser.add_argument_group("service settings (override the environment)")
    for option, env, kind, text in SETTING_OPTIONS:
        flag = (renamed or {}).get(option, option)
        group.add_argument(flag, dest=_dest(option), type=kind, help=f"{text}; sets {env}")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    values = {env: getattr(args, _dest(option), None) for option, env, _, _ in SETTING_OPTIONS}
    if getattr(args, "port", None) is not None:
        values["WEB_PORT"] = args.port
    return values
