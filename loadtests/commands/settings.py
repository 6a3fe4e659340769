"""``settings``: every service setting, its default, who reads it and what it does,
printed from the settings' own metadata (the README's table is this output)."""

from __future__ import annotations

import argparse
from typing import Any

from services.common.settings import ALL_MODES, SETTINGS, ServiceSettings, SettingInfo

# Defaults that follow other settings or the environment, in words.
DERIVED_DEFAULTS = {
    "DATABASE_URL": "the embedded server",
    "WEB_THREADS": "pool + overflow",
    "DB_WRITE_POOL_SIZE": "a quarter of the pool",
}


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "settings",
        help="list the service settings: default, who reads them, what they do",
    )
    parser.set_defaults(handler=handle)


def _readers(info: SettingInfo) -> str:
    readers = ["Flask"] if info.flask else []
    if info.fastapi == ALL_MODES:
        readers.append("FastAPI")
    elif info.fastapi:
        readers.append("FastAPI " + ", ".join(sorted(mode.value for mode in info.fastapi)))
    return "; ".join(readers)


def _default(info: SettingInfo) -> str:
    if info.env in DERIVED_DEFAULTS:
        return DERIVED_DEFAULTS[info.env]
    default = ServiceSettings.model_fields[info.field].default
    if isinstance(default, bool):  # written as the environment takes it
        return "on" if default else "off"
    return str(getattr(default, "value", default))


def markdown() -> str:
    rows = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for env, info in SETTINGS.items():
        option = f" (`{info.option}`)" if info.option else ""
        rows.append(f"| `{env}`{option} | {_default(info)} | {_readers(info)} | {info.help} |")
    return "\n".join(rows)


def handle(_: argparse.Namespace) -> int:
    print(markdown())
    return 0
