"""A service under test: one variant's settings, checked against the database, started
pinned, healthy, and stopped with all its workers. ``run``, ``ui`` and ``serve`` all go
through ``ServiceUnderTest``, so a variant runs the same way in each.

Settings are layered: the environment, then the options every variant of a command
shares (``--pool-size`` and friends), then the variant's own settings, then what the
launcher chooses per start (database URL, port). Unless someone chose ``WEB_WORKERS``,
a pinned service runs one worker per service core (gthread, uvicorn) or gunicorn's
recommended (2 x cores) + 1 (sync workers), as many as the connection budget allows.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import psutil

from loadtests.errors import SuiteError
from loadtests.infra import database
from loadtests.infra.cpu import CpuLayout
from loadtests.infra.ports import check_port, free_port
from loadtests.infra.processes import Supervised
from loadtests.paths import PROJECT_ROOT
from loadtests.variants import EXTERNAL_NOTE, Variant
from services.common.settings import (
    DataAccessMode,
    PoolQueue,
    Service,
    ServiceSettings,
    SettingsError,
    WorkerClass,
    values_read,
)

# Connections the suite keeps free for itself (reset, statistics, seed checks).
ADMIN_CONNECTIONS = 5
HEALTH_TIMEOUT_S = 60.0  # twenty sync workers importing on one pinned core take a while

COMMANDS: dict[Service, list[str]] = {
    Service.flask: [
        sys.executable, "-m", "gunicorn",
        "-c", str(PROJECT_ROOT / "services" / "flask_sync" / "gunicorn.conf.py"),
    ],
    Service.fastapi: [sys.executable, "-m", "services.fastapi_async"],
}  # fmt: skip


def build_settings(database_url: str, *layers: Mapping[str, Any]) -> ServiceSettings:
    """Settings from the environment, then each layer (by env name), then the URL."""
    environ = dict(os.environ)
    for layer in layers:
        environ.update({key: str(value) for key, value in layer.items() if value is not None})
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
    service_cpus: int, settings: ServiceSettings, allowed: int, service: Service
) -> int:
    """One worker per service core; gunicorn's recommended (2 x cores) + 1 for sync
    workers, which serve one request at a time. Never more than the budget allows."""
    sync = service is Service.flask and settings.worker_class is WorkerClass.sync
    wanted = 2 * service_cpus + 1 if sync else service_cpus
    return max(1, min(wanted, allowed // settings.connections_per_worker))


def describe(service: Service, settings: ServiceSettings) -> str:
    """The process model in one line, for the console and the report."""
    if service is Service.flask:
        if settings.worker_class is WorkerClass.sync:
            return f"gunicorn, {settings.workers} sync worker(s), one request at a time each"
        return f"gunicorn, {settings.workers} gthread worker(s) x {settings.thread_count} threads"
    mode = settings.data_access
    text = f"uvicorn (uvloop, httptools), {settings.workers} worker(s), DATA_ACCESS={mode.value}"
    if mode is DataAccessMode.sync_def:
        text += f", {settings.thread_count} threads"
    if mode is DataAccessMode.hybrid:
        writes, reads = settings.hybrid_split
        text += f", {writes} ORM (write) + {reads} raw (read) connections per worker"
    if mode in (DataAccessMode.orm, DataAccessMode.raw, DataAccessMode.hybrid):
        text += ", fifo gate" if settings.pool_queue is PoolQueue.fifo else ""
    return text


def connection_budget(service: Service, settings: ServiceSettings) -> int:
    """Connections the service can hold at once (a sync or blocking worker uses one)."""
    one_at_a_time = (service is Service.flask and settings.worker_class is WorkerClass.sync) or (
        service is Service.fastapi and settings.data_access is DataAccessMode.blocking
    )
    per_worker = 1 if one_at_a_time else settings.connections_per_worker
    return settings.workers * per_worker


EXTERNAL_HEALTH_S = 10.0


def service_env(settings: ServiceSettings) -> dict[str, str]:
    own = settings.as_env()
    env = {k: v for k, v in os.environ.items() if k not in own}
    env.update(own)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_healthy(url: str, process: Supervised | None, what: str, timeout: float) -> None:
    """Return once ``url``/health answers 200; one line naming ``what`` if ``process``
    (None: not started here) exits first or nothing answers within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise SuiteError(
                f"{what} exited with code {process.popen.returncode} before becoming "
                f"healthy: {process.log_tail() or 'no output'} (log: {process.log_path})"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    where = f"log: {process.log_path}" if process else f"{url}/health"
    raise SuiteError(f"{what} did not become healthy within {timeout:.0f} s ({where})")


@dataclass
class ServiceUnderTest:
    """A variant's service, started by the suite."""

    external: ClassVar[bool] = False  # True: an ExternalTarget
    variant: Variant
    settings: ServiceSettings
    cpus: tuple[int, ...] | None = None
    process: Supervised | None = field(default=None, repr=False)

    @classmethod
    def prepare(
        cls,
        variant: Variant,
        database_url: str,
        layout: CpuLayout,
        shared: Mapping[str, Any],
        port: int | None = None,
    ) -> ServiceUnderTest:
        """The variant's settings for this database and CPU layout, checked."""
        shared = {key: value for key, value in shared.items() if value is not None}
        own: dict[str, Any] = dict(variant.environment())
        settings = build_settings(database_url, shared, own)
        allowed, why = connection_allowance(database_url)
        chosen = "WEB_WORKERS" in shared or "WEB_WORKERS" in own or os.environ.get("WEB_WORKERS")
        if layout.pinned and not chosen:
            workers = default_workers(len(layout.service_cpus), settings, allowed, variant.service)
            own = {**own, "WEB_WORKERS": workers}
        settings = build_settings(database_url, shared, own, {"WEB_PORT": port or free_port()})
        if variant.url is not None:  # not started here: no cores, no budget of ours
            return ExternalTarget(variant, settings)
        sut = cls(variant, settings, layout.service_cpus if layout.pinned else None)
        sut.check_budget(allowed, why)
        return sut

    def through(self, database_url: str, overrides: Mapping[str, Any]) -> None:
        """Send the prepared service to another database URL (PgBouncer's), with
        ``overrides`` on top of its settings; its port and workers stay as prepared."""
        self.settings = build_settings(database_url, self.settings.as_env(), overrides)

    def check_budget(self, allowed: int, why: str) -> None:
        """Refuse settings that would open more connections than the database accepts,
        or Flask threads that would queue for a connection."""
        settings = self.settings
        if settings.connection_budget > allowed:
            raise SuiteError(
                f"{self.variant.name}: connection budget exceeded: {settings.workers} worker(s) x "
                f"(pool {settings.pool_size} + overflow {settings.max_overflow}) = "
                f"{settings.connection_budget} connections, but the database allows {allowed} "
                f"({why})"
            )
        threaded = (
            self.variant.service is Service.flask and settings.worker_class is WorkerClass.gthread
        )
        if threaded and settings.thread_count > settings.connections_per_worker:
            raise SuiteError(
                f"{self.variant.name}: WEB_THREADS={settings.thread_count} exceeds DB_POOL_SIZE + "
                f"DB_MAX_OVERFLOW = {settings.connections_per_worker}: threads would queue for "
                "a connection (raise the pool or lower the threads)"
            )

    # -- what it is ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.variant.url or f"http://{self.settings.host}:{self.settings.port}"

    @property
    def label(self) -> str:
        return self.variant.display

    def describe(self) -> str:
        return describe(self.variant.service, self.settings)

    def values(self) -> dict[str, Any]:
        """The settings this variant reads, by environment variable."""
        return values_read(self.settings, self.variant.service, self.settings.data_access)

    def connection_budget(self) -> int:
        """Connections it may open on the suite's database."""
        return connection_budget(self.variant.service, self.settings)

    # -- running -------------------------------------------------------------------------

    def start(self, log_path: Path, timeout: float = HEALTH_TIMEOUT_S) -> ServiceUnderTest:
        """Start the service and return once ``/health`` answers 200."""
        check_port(self.settings.port, f"{self.label} service", self.settings.host)
        command = COMMANDS[self.variant.service]
        self.process = Supervised(
            self.variant.name, command, service_env(self.settings), log_path, self.cpus,
            cwd=PROJECT_ROOT,
        )  # fmt: skip
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        wait_healthy(self.url, self.process, f"{self.label} service", timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def processes(self) -> list[psutil.Process]:
        return self.process.processes() if self.process else []

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> ServiceUnderTest:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class ExternalTarget(ServiceUnderTest):
    """A service running elsewhere (``--target NAME=URL``, ``url = ...``): driven, never
    started, stopped or pinned by the suite; its settings, processes and database are its
    own, so none of them is known here."""

    external: ClassVar[bool] = True

    def through(self, database_url: str, overrides: Mapping[str, Any]) -> None:
        pass  # its database is its own business

    def describe(self) -> str:
        return f"external target at {self.url} ({EXTERNAL_NOTE})"

    def values(self) -> dict[str, Any]:
        return {}

    def connection_budget(self) -> int:
        return 0  # none on the suite's database

    def start(self, log_path: Path, timeout: float = HEALTH_TIMEOUT_S) -> ServiceUnderTest:
        """Only the health check, within EXTERNAL_HEALTH_S."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(f"external target at {self.url}: not started here\n")
        self._wait_healthy(EXTERNAL_HEALTH_S)
        return self
