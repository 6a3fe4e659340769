"""The services under test: how to start each one, with which settings, and when to refuse.

Both services read the same settings (``services/common/settings.py``); here they are
built from the environment plus command-line overrides, checked against the database's
connection limit, and turned into a started, healthy process.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests import database
from loadtests.cpu import CpuLayout
from loadtests.errors import SuiteError
from loadtests.infra.ports import check_port
from loadtests.infra.processes import Supervised
from loadtests.paths import PROJECT_ROOT
from services.common.settings import ServiceSettings, SettingsError, WorkerClass

# Connections the suite keeps free for itself (reset, statistics, seed checks).
ADMIN_CONNECTIONS = 5
HEALTH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServiceKind:
    name: str
    label: str
    stack: str
    ignores: frozenset[str]  # settings this service does not read (the other one does)

    def own_settings(self, settings: ServiceSettings) -> dict[str, Any]:
        """The settings this service reads, for printing and reports (no URL, no port)."""
        return {
            key: value
            for key, value in settings.public().items()
            if key not in self.ignores and key not in ("host", "port")
        }

    def command(self) -> list[str]:
        if self.name == "flask":
            config = PROJECT_ROOT / "services" / "flask_sync" / "gunicorn.conf.py"
            return [sys.executable, "-m", "gunicorn", "-c", str(config)]
        return [sys.executable, "-m", "services.fastapi_async"]

    def describe(self, settings: ServiceSettings) -> str:
        """The process model in one line, for the console and the report."""
        if self.name == "flask" and settings.worker_class is WorkerClass.sync:
            return f"gunicorn, {settings.workers} sync worker(s), one request at a time each"
        if self.name == "flask":
            return f"gunicorn, {settings.workers} gthread worker(s) x {settings.threads} threads"
        return (
            f"uvicorn (uvloop, httptools), {settings.workers} worker(s), "
            f"DATA_ACCESS={settings.data_access.value}"
        )


SERVICES: dict[str, ServiceKind] = {
    "flask": ServiceKind(
        "flask",
        "Flask",
        "Flask + sync SQLAlchemy + psycopg2",
        ignores=frozenset({"statement_cache", "data_access"}),
    ),
    "fastapi": ServiceKind(
        "fastapi",
        "FastAPI",
        "FastAPI + async SQLAlchemy + asyncpg",
        ignores=frozenset({"threads", "worker_class"}),
    ),
}


def kind(name: str) -> ServiceKind:
    try:
        return SERVICES[name]
    except KeyError:
        raise SuiteError(f"unknown service '{name}' (known: {', '.join(SERVICES)})") from None


def parse_services(text: str) -> list[ServiceKind]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise SuiteError("no service given (known: flask, fastapi)")
    if len(set(names)) != len(names):
        raise SuiteError(f"a service is listed twice in '{text}'")
    return [kind(name) for name in names]


def build_settings(database_url: str, overrides: Mapping[str, Any]) -> ServiceSettings:
    """Settings from the environment, then ``overrides`` (by env name), then the URL."""
    environ = dict(os.environ)
    environ.update({key: str(value) for key, value in overrides.items() if value is not None})
    environ["DATABASE_URL"] = database_url
    try:
        return ServiceSettings.from_env(environ)
    except SettingsError as exc:
        raise SuiteError(str(exc)) from None


def connection_allowance(database_url: str) -> tuple[int, str]:
    """How many connections a service may open, and the arithmetic behind it."""
    limits = database.connection_limits(database_url)
    allowed = limits["max_connections"] - limits["reserved"] - ADMIN_CONNECTIONS
    why = (
        f"max_connections {limits['max_connections']} - {limits['reserved']} reserved "
        f"- {ADMIN_CONNECTIONS} kept for the suite"
    )
    return allowed, why


def default_workers(
    service_cpus: int, database_url: str, overrides: Mapping[str, Any]
) -> int | None:
    """Workers for a pinned run when nobody chose a number (WEB_WORKERS or an option):
    one per service core, as many as the connection budget allows. None: keep the choice."""
    if overrides.get("WEB_WORKERS") is not None or os.environ.get("WEB_WORKERS"):
        return None
    per_worker = build_settings(database_url, overrides).connections_per_worker
    allowed, _ = connection_allowance(database_url)
    return max(1, min(service_cpus, allowed // per_worker))


def with_default_workers(
    layout: CpuLayout, database_url: str, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """``overrides`` plus the worker count a pinned run uses when nobody chose one."""
    chosen = {key: value for key, value in overrides.items() if value is not None}
    if layout.pinned:
        workers = default_workers(len(layout.service_cpus), database_url, chosen)
        if workers is not None:
            chosen["WEB_WORKERS"] = workers
    return chosen


def check_budget(service: ServiceKind, settings: ServiceSettings, database_url: str) -> None:
    """Refuse settings that would open more connections than the database accepts, or
    Flask threads that would queue for a connection."""
    allowed, why = connection_allowance(database_url)
    if settings.connection_budget > allowed:
        raise SuiteError(
            f"connection budget exceeded: {settings.workers} worker(s) x (pool "
            f"{settings.pool_size} + overflow {settings.max_overflow}) = "
            f"{settings.connection_budget} connections, but the database allows {allowed} "
            f"({why})"
        )
    threaded = settings.worker_class is WorkerClass.gthread
    if service.name == "flask" and threaded and settings.threads > settings.connections_per_worker:
        raise SuiteError(
            f"WEB_THREADS={settings.threads} exceeds DB_POOL_SIZE + DB_MAX_OVERFLOW = "
            f"{settings.connections_per_worker}: threads would queue for a connection "
            "(raise the pool or lower the threads)"
        )


def service_env(settings: ServiceSettings) -> dict[str, str]:
    own = settings.as_env()
    env = {k: v for k, v in os.environ.items() if k not in own}
    env.update(own)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def base_url(settings: ServiceSettings) -> str:
    return f"http://{settings.host}:{settings.port}"


def start(
    service: ServiceKind,
    settings: ServiceSettings,
    log_path: Path,
    cpus: Iterable[int] | None = None,
) -> Supervised:
    """Start the service and return once ``/health`` answers 200."""
    check_port(settings.port, f"{service.label} service", settings.host)
    process = Supervised(
        service.name, service.command(), service_env(settings), log_path, cpus, cwd=PROJECT_ROOT
    )
    try:
        wait_healthy(service, settings, process)
    except BaseException:
        process.stop()
        raise
    return process


def wait_healthy(
    service: ServiceKind,
    settings: ServiceSettings,
    process: Supervised,
    timeout: float = HEALTH_TIMEOUT_S,
) -> None:
    url = f"{base_url(settings)}/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise SuiteError(
                f"{service.label} service exited with code {process.popen.returncode} before "
                f"becoming healthy: {process.log_tail() or 'no output'} (log: {process.log_path})"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise SuiteError(
        f"{service.label} service did not become healthy within {timeout:.0f} s "
        f"(log: {process.log_path})"
    )
