"""One embedded PostgreSQL for the whole test session, started the way users start it.

The session server lives in its own state directory, so running the tests never touches
a developer's `.loadtests/` database. It is seeded with a small data set; tests that
measure the default seed size do so in their own database on the same server.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtests.infra import database
from loadtests.infra.ports import free_port
from loadtests.infra.postgres import EmbeddedPostgres, layout
from loadtests.run.service import ServiceUnderTest, build_settings
from loadtests.variants import BUILTIN
from services.common.seed import SeedSpec

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


def start_service(
    name: str, target: database.Target, logs: Path, **overrides: object
) -> ServiceUnderTest:
    """A real gunicorn or uvicorn process of a built-in variant, serving ``target``. The
    settings are not checked against the budget: tests misconfigure on purpose."""
    variant = BUILTIN[name]
    settings = build_settings(
        target.url, variant.environment(), {"WEB_PORT": free_port(), **overrides}
    )
    service = ServiceUnderTest(variant, settings)
    return service.start(logs / f"{name.replace(':', '_')}-{service.settings.port}.log")


@functools.cache
def http() -> httpx.Client:
    """One keep-alive client for the session: a new httpx client costs about 60 ms (its
    SSL context), a request on a kept-alive connection about 1 ms."""
    return httpx.Client(timeout=15)


def wait_until_answering(url: str, timeout: float = 20) -> None:
    """After a reset replaced the database, pooled connections answer 503 once, then the
    service reconnects: wait for that."""
    deadline = time.monotonic() + timeout
    while http().get(f"{url}/users/1", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, f"{url} does not answer"
        time.sleep(0.2)


@contextlib.contextmanager
def every_variant(target: database.Target, logs: Path) -> Iterator[dict[str, ServiceUnderTest]]:
    """Every built-in variant with the default settings, stopped on the way out."""
    started: dict[str, ServiceUnderTest] = {}
    try:
        for name in BUILTIN:
            started[name] = start_service(name, target, logs)
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture(scope="session")
def session_services(seeded: database.Target, tmp_path_factory: pytest.TempPathFactory):
    """Every built-in variant, started once for the session."""
    with every_variant(seeded, tmp_path_factory.mktemp("service-logs")) as started:
        yield started


@pytest.fixture
def running(session_services: dict[str, ServiceUnderTest]) -> dict[str, ServiceUnderTest]:
    """The session's services, answering (a reset by an earlier test replaced the database
    under them; their first request after that is a 503 while the pool reconnects)."""
    for service in session_services.values():
        wait_until_answering(service.url)
    return session_services


@pytest.fixture
def two(running: dict[str, ServiceUnderTest]) -> dict[str, ServiceUnderTest]:
    """The two stacks the suite started with: Flask and FastAPI with the async ORM."""
    return {name: running[name] for name in ("flask", "fastapi")}


# Fixtures that run the suite under real load: every test using one is `slow`, so that
# `make test-fast` (-m "not slow") is the unit and contract tests only.
LOAD_FIXTURES = {"two_runs", "smoke_run", "trap_and_safe"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LOAD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    # Modules with the most load first, each kept whole and in its own order: `make test`
    # hands whole modules to its workers in this order, and a long module started last
    # would leave the other worker idle at the end.
    load: dict[str, int] = {}
    for item in items:
        heavy = item.get_closest_marker("slow") and not item.get_closest_marker("alone")
        load[_module(item)] = load.get(_module(item), 0) + bool(heavy)
    items.sort(key=lambda item: -load[_module(item)])


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]
