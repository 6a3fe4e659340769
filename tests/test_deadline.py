"""REQUEST_DEADLINE_S against a frozen database: every PostgreSQL process of the session's
own server stopped with SIGSTOP, so its kernel still accepts and acknowledges TCP and
nothing ever answers. Flask and every FastAPI mode must answer each database request
with a 503 within the deadline, answer again as soon as the server runs, and keep their
workers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from loadtests.infra.postgres import EmbeddedPostgres
from loadtests.run.service import ServiceUnderTest
from tests.conftest import start_service, wait_until_answering

DEADLINE = 1.0
MARGIN = 0.5  # HTTP, the framework and a loaded 2-core machine
RECOVERY = 2.0
VARIANTS = (
    "flask", "fastapi", "fastapi:raw", "fastapi:hybrid", "fastapi:sync-def", "fastapi:blocking",
)  # fmt: skip
# Two connections per worker (hybrid: one for writes, one for reads): connections that the
# deadline cut but left checked out would empty the pool during the freeze, and the
# recovery requests would get "pool exhausted" after DB_POOL_TIMEOUT.
SETTINGS = {"REQUEST_DEADLINE_S": DEADLINE, "DB_POOL_SIZE": 2, "DB_POOL_TIMEOUT": 3}
# Pooled connections first, then new ones (reads, a write, a read again).
FROZEN_REQUESTS = [
    ("GET", "/users/1", None),
    ("GET", "/orders/1", None),
    ("PATCH", "/users/2", {"name": "Frozen"}),
    ("GET", "/users/3", None),
]
UNAVAILABLE = {"detail": "Database unavailable"}


@pytest.fixture(scope="module")
def bounded(seeded, tmp_path_factory) -> Iterator[dict[str, ServiceUnderTest]]:
    """Every variant with a one-second deadline, started side by side."""
    logs = tmp_path_factory.mktemp("deadline-services")
    with ThreadPoolExecutor(len(VARIANTS)) as pool:
        starting = {
            name: pool.submit(start_service, name, seeded, logs, WEB_PORT=port, **SETTINGS)
            for name, port in zip(VARIANTS, _distinct_ports(len(VARIANTS)), strict=True)
        }
    started = {name: f.result() for name, f in starting.items() if f.exception() is None}
    try:
        for future in starting.values():
            future.result()  # the first failure to start, if any
        yield started
    finally:
        for service in started.values():
            service.stop()


def _distinct_ports(count: int) -> list[int]:
    """Free ports, all different (free_port() one after the other may repeat itself)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@contextlib.contextmanager
def frozen(server: EmbeddedPostgres) -> Iterator[None]:
    """SIGSTOP the session server's postmaster and all its children, SIGCONT them after."""
    state = server.status()
    assert state is not None
    postmaster = psutil.Process(state.pid)
    stopped = [postmaster]
    try:
        postmaster.suspend()  # first: a stopped postmaster starts no new backend
        for child in postmaster.children(recursive=True):
            child.suspend()
            stopped.append(child)
        yield
    finally:
        for process in stopped:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()


def _timed(
    client: httpx.Client, method: str, url: str, body: object
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.request(method, url, json=body)
    return response, time.perf_counter() - started


def _while_frozen(service: ServiceUnderTest) -> list[str]:
    """The requests' problems, if any: each must be a 503 after the deadline, not before
    (that would be some other failure) and not much after."""
    problems = []
    with httpx.Client(timeout=30) as client:
        for method, path, body in FROZEN_REQUESTS:
            response, elapsed = _timed(client, method, service.url + path, body)
            if response.status_code != 503 or response.json() != UNAVAILABLE:
                problems.append(f"{method} {path}: {response.status_code} {response.text}")
            if not DEADLINE * 0.9 <= elapsed < DEADLINE + MARGIN:
                problems.append(f"{method} {path}: answered after {elapsed:.3f} s")
        response, elapsed = _timed(client, "GET", f"{service.url}/health", None)
        if response.status_code != 200 or elapsed >= MARGIN:
            problems.append(f"/health: {response.status_code} after {elapsed:.3f} s")
    return problems


def _after_thaw(service: ServiceUnderTest) -> list[str]:
    """The first read and the first write after the thaw succeed, each within RECOVERY."""
    problems = []
    with httpx.Client(timeout=30) as client:
        for method, path, body in [("GET", "/users/1", None), *FROZEN_REQUESTS[2:3]]:
            response, elapsed = _timed(client, method, service.url + path, body)
            if response.status_code != 200 or elapsed >= RECOVERY:
                problems.append(f"{method} {path}: {response.status_code} after {elapsed:.3f} s")
    return problems


def _members(service: ServiceUnderTest) -> set[int]:
    return {process.pid for process in service.processes() if process.is_running()}


@pytest.mark.alone
def test_frozen_database_answers_503_within_the_deadline_and_recovers(bounded, embedded) -> None:
    for service in bounded.values():
        wait_until_answering(service.url)
        assert httpx.patch(f"{service.url}/users/2", json={"name": "Warm"}).status_code == 200
    members = {name: _members(service) for name, service in bounded.items()}
    with ThreadPoolExecutor(len(bounded)) as pool:
        with frozen(embedded):
            during = dict(zip(bounded, pool.map(_while_frozen, bounded.values()), strict=True))
        after = dict(zip(bounded, pool.map(_after_thaw, bounded.values()), strict=True))
    assert {name: problems for name, problems in during.items() if problems} == {}
    assert {name: problems for name, problems in after.items() if problems} == {}
    for name, service in bounded.items():
        assert service.alive(), f"{name} exited"
        assert _members(service) == members[name], f"{name}: workers died or restarted"


def test_connecting_is_bounded_by_the_deadline_too() -> None:
    from services.common.settings import ServiceSettings

    settings = ServiceSettings.from_env({"DATABASE_URL": "postgresql://x@h/db"})
    assert (settings.deadline, settings.connect_limit) == (5.0, 5.0)
    short = settings.model_copy(update={"request_deadline": 1.0})
    assert (short.deadline, short.connect_limit) == (1.0, 1.0)
    off = settings.model_copy(update={"request_deadline": 0.0, "connect_timeout": 7.0})
    assert (off.deadline, off.connect_limit) == (None, 7.0)
