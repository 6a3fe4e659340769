"""One embedded PostgreSQL for the whole test session, started the way users start it.

The session server lives in its own state directory, so running the tests never touches
a developer's `.loadtests/` database. It is seeded with a small data set; tests that
measure the default seed size do so in their own database on the same server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests import database, launcher
from loadtests.infra.ports import free_port
from loadtests.infra.postgres import EmbeddedPostgres, layout
from loadtests.infra.processes import Supervised
from services.common.seed import SeedSpec
from services.common.settings import ServiceSettings

SMALL_SEED = SeedSpec(users=500, customers=300, products=50, orders=2_000, seed=7)


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def embedded(state_dir: Path) -> Iterator[EmbeddedPostgres]:
    previous = {k: os.environ.pop(k, None) for k in ("DATABASE_URL", "LOADTESTS_STATE_DIR")}
    os.environ["LOADTESTS_STATE_DIR"] = str(state_dir)
    server = EmbeddedPostgres(layout())
    server.up()
    try:
        yield server
    finally:
        server.destroy()
        os.environ.pop("LOADTESTS_STATE_DIR", None)
        for key, value in previous.items():
            if value is not None:
                os.environ[key] = value


@pytest.fixture(scope="session")
def seeded(embedded: EmbeddedPostgres) -> database.Target:
    """The session server's `bench` database, seeded with SMALL_SEED."""
    target = database.current_target()
    database.seed(target, SMALL_SEED)
    return target


class RunningService:
    """A real gunicorn or uvicorn process serving the session database."""

    def __init__(self, name: str, settings: ServiceSettings, process: Supervised) -> None:
        self.name = name
        self.settings = settings
        self.process = process
        self.url = launcher.base_url(settings)


def start_service(
    name: str, target: database.Target, logs: Path, **overrides: object
) -> RunningService:
    settings = launcher.build_settings(target.url, {"WEB_PORT": free_port(), **overrides})
    log = logs / f"{name}-{settings.port}.log"
    return RunningService(name, settings, launcher.start(launcher.kind(name), settings, log))


def wait_until_answering(url: str, timeout: float = 20) -> None:
    """After a reset replaced the database, pooled connections answer 503 once, then the
    service reconnects: wait for that."""
    import httpx

    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/users/1", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, f"{url} does not answer"
        time.sleep(0.2)


@pytest.fixture(scope="session")
def session_services(seeded: database.Target, tmp_path_factory: pytest.TempPathFactory):
    """Both services, started once for the session with the default settings."""
    logs = tmp_path_factory.mktemp("service-logs")
    started = {name: start_service(name, seeded, logs) for name in ("flask", "fastapi")}
    try:
        yield started
    finally:
        for service in started.values():
            service.process.stop()


@pytest.fixture
def running(session_services: dict[str, RunningService]) -> dict[str, RunningService]:
    """The session's services, answering (a reset by an earlier test replaced the database
    under them; their first request after that is a 503 while the pool reconnects)."""
    for service in session_services.values():
        wait_until_answering(service.url)
    return session_services
