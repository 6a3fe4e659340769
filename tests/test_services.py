"""The services' database behaviour: statements per request, outages, pool exhaustion,
and the settings the launcher refuses."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest

from loadtests.infra import database
from loadtests.infra.postgres import EmbeddedPostgres
from tests.conftest import SMALL_SEED, every_variant, start_service
from tests.helpers import cli_env, one_line_error, run_cli

JSON = {"content-type": "application/json"}
NEW_ORDER = {
    "customer_id": 2,
    "items": [{"product_id": 4, "quantity": 1}, {"product_id": 5, "quantity": 3}],
}

# Statements each endpoint must send PostgreSQL (pg_stat_statements, by first keyword),
# with SQLAlchemy's ORM: order + customer in one JOIN, items + products in one IN query,
# no lazy loads.
ORM_STATEMENTS = [
    ("GET", "/users/7", None, {"SELECT": 1}),
    ("PATCH", "/users/7", {"name": "Counted"}, {"SELECT": 1, "UPDATE": 1}),
    ("GET", "/users?limit=10", None, {"SELECT": 1}),
    ("GET", "/orders/3", None, {"SELECT": 2}),
    ("GET", "/orders?limit=10", None, {"SELECT": 2}),
    ("GET", "/orders/3/summary", None, {"SELECT": 1}),
    ("POST", "/orders", NEW_ORDER, {"SELECT": 2, "INSERT": 2}),
]
# Raw asyncpg sends fewer: a rename is one UPDATE ... RETURNING, reads need no
# transaction. asyncpg's pool resets every connection it takes back with one round trip
# (SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL), the counterpart
# of the ORM's ROLLBACK on return: one more SELECT per request.
RAW_DML = {
    "GET /users/7": {"SELECT": 2},
    "PATCH /users/7": {"UPDATE": 1, "SELECT": 1},
    "GET /users?limit=10": {"SELECT": 2},
    "GET /orders/3": {"SELECT": 3},
    "GET /orders?limit=10": {"SELECT": 3},
    "GET /orders/3/summary": {"SELECT": 2},
    "POST /orders": {"SELECT": 3, "INSERT": 2},
}
RAW_RESET = {"CLOSE": 1, "UNLISTEN": 1, "RESET": 1}
WRITES = ("PATCH", "POST")


def _request(base: str, method: str, path: str, body: object) -> httpx.Response:
    return httpx.request(method, base + path, json=body, timeout=15)


def _expected(variant: str, method: str, path: str, orm: dict[str, int]) -> dict[str, int]:
    raw = variant == "fastapi:raw" or (variant == "fastapi:hybrid" and method not in WRITES)
    return RAW_DML[f"{method} {path}"] if raw else orm


def _counted(service, seeded, method: str, path: str, body: object) -> dict[str, int]:
    """The statements of one request, after the same request succeeded twice on a warm
    connection (an earlier test may have replaced the database under the pool, and a
    fresh connection introspects types on first use). With several workers the counted
    request can still land on a cold one, and setup only ever adds statements: the
    fewest of three is the request's own."""

    def send() -> httpx.Response:
        # A name the row does not have yet: SQLAlchemy skips an UPDATE that changes nothing.
        payload = {"name": f"Counted {time.monotonic_ns()}"} if method == "PATCH" else body
        return _request(service.url, method, path, payload)

    deadline, warm = time.monotonic() + 20, 0
    while warm < 2:
        warm = warm + 1 if send().status_code in (200, 201) else 0
        assert time.monotonic() < deadline, f"{service.label} does not answer {method} {path}"
    attempts = []
    for _ in range(3):  # a worker's first request on a fresh connection sends setup too
        assert database.reset_statement_stats(seeded.url)
        response = send()
        assert response.status_code in (200, 201), response.text
        counted = database.statement_counts(seeded.url)
        assert counted is not None
        attempts.append(counted)
    return min(attempts, key=lambda counted: sum(counted.values()))


@pytest.fixture(scope="module")
def fresh(seeded, tmp_path_factory):
    """Every built-in variant, started for this module only: the session's services have
    been through outages, resets and load by now, and a pool that had to open a new
    connection for a request would count that connection's setup as the request's."""
    with every_variant(seeded, tmp_path_factory.mktemp("fresh-services")) as started:
        yield started


@pytest.mark.parametrize(("method", "path", "body", "orm"), ORM_STATEMENTS)
def test_statements_per_request_in_every_mode(method, path, body, orm, fresh, seeded) -> None:
    counts = {
        name: _counted(service, seeded, method, path, body) for name, service in fresh.items()
    }
    for name, counted in counts.items():
        dml = {k: v for k, v in counted.items() if k in ("SELECT", "INSERT", "UPDATE", "DELETE")}
        assert dml == _expected(name, method, path, orm), (name, counted)
        if _expected(name, method, path, orm) is not orm:
            assert {k: counted.get(k) for k in RAW_RESET} == RAW_RESET, (name, counted)
            assert ("BEGIN" in counted) == (method == "POST"), "raw reads run without BEGIN"
    orm_modes = [n for n in counts if _expected(n, method, path, orm) is orm]
    assert len(orm_modes) >= 6
    for name in orm_modes:  # transaction statements too: psycopg2 and asyncpg alike
        assert counts[name] == counts["flask"], (name, counts[name], counts["flask"])


@pytest.mark.alone
def test_database_outage_gives_fast_503_and_recovery(running, seeded, embedded) -> None:
    """Every variant: 503 quickly while the database is down, and back after."""
    state = embedded.status()
    assert state is not None
    for service in running.values():
        assert httpx.get(f"{service.url}/users/1").status_code == 200
    embedded.down()
    try:
        for name, service in running.items():
            for path in ("/users/1", "/orders/1", "/users/1"):  # pooled, then fresh connections
                started = time.perf_counter()
                response = httpx.get(service.url + path, timeout=30)
                elapsed = time.perf_counter() - started
                assert response.status_code == 503, (name, path, response.text)
                assert response.json() == {"detail": "Database unavailable"}
                assert elapsed < service.settings.pool_timeout, (name, elapsed)
            assert httpx.get(f"{service.url}/health").status_code == 200
    finally:
        embedded.up(state.port)
    for name, service in running.items():
        deadline = time.monotonic() + 20
        while httpx.get(f"{service.url}/users/1").status_code != 200:
            assert time.monotonic() < deadline, f"{name} did not recover"
            time.sleep(0.2)


@pytest.mark.parametrize("name", ["flask", "fastapi", "fastapi:fair", "fastapi:raw"])
@pytest.mark.alone
def test_exhausted_pool_gives_503_within_the_pool_timeout(name, seeded, tmp_path) -> None:
    # One connection, a one-second pool timeout, and a row lock that holds the connection.
    service = start_service(
        name, seeded, tmp_path, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=1, WEB_THREADS=3
    )
    locker = psycopg2.connect(seeded.url)
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT 1 FROM users WHERE id = 9 FOR UPDATE")
        with ThreadPoolExecutor(1) as pool:
            blocked = pool.submit(
                _request, service.url, "PATCH", "/users/9", {"name": f"Waiting {name}"}
            )
            time.sleep(0.5)
            started = time.perf_counter()
            response = httpx.get(f"{service.url}/users/1", timeout=30)
            elapsed = time.perf_counter() - started
            assert response.status_code == 503, response.text
            assert response.json() == {"detail": "Database connection pool exhausted"}
            assert 0.9 < elapsed < 3, elapsed
            locker.rollback()  # release the row: the blocked request completes
            assert blocked.result(timeout=10).status_code == 200
        assert httpx.get(f"{service.url}/users/1").status_code == 200
    finally:
        locker.close()
        service.stop()


def test_workers_stop_with_the_service(seeded, tmp_path) -> None:
    service = start_service("flask", seeded, tmp_path, WEB_WORKERS=2, WEB_THREADS=4)
    members = service.processes()
    assert len(members) == 3, "gunicorn arbiter and two workers"
    service.stop()
    assert not any(p.is_running() and p.status() != "zombie" for p in members)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--service-workers", "20", "--pool-size", "20"], {},
         "connection budget exceeded: 20 worker(s) x (pool 20 + overflow 0) = 400 connections"),
        (["--threads", "40"], {}, "WEB_THREADS=40 exceeds DB_POOL_SIZE + DB_MAX_OVERFLOW = 20"),
        ([], {"DB_POOL_SIZE": "abc"}, "invalid settings: DB_POOL_SIZE: Input should be a valid integer"),
        ([], {"DB_POOL_TIMEOUT": "-1"}, "invalid settings: DB_POOL_TIMEOUT"),
        ([], {"DATA_ACCESS": "magic"}, "invalid settings: DATA_ACCESS: Input should be 'orm', 'raw'"),
        (["--service-workers", "0"], {}, "invalid settings: WEB_WORKERS"),
    ],
)  # fmt: skip
def test_bad_service_settings_are_refused(args, env, expected, seeded, state_dir) -> None:
    result = run_cli("serve", "flask", *args, env=cli_env(state_dir, **env))
    line = one_line_error(result)
    assert expected in line
    assert "max_connections 200" in line or "budget" not in expected


def test_serve_refuses_a_port_in_use(running, state_dir) -> None:
    busy = running["flask"].settings.port
    line = one_line_error(run_cli("serve", "fastapi", "--port", str(busy), env=cli_env(state_dir)))
    assert f"port {busy}" in line and "in use" in line


def test_unknown_variant_is_a_one_line_error(state_dir) -> None:
    line = one_line_error(run_cli("serve", "django", env=cli_env(state_dir)))
    assert "unknown variant 'django' (known: flask, flask:sync, fastapi, fastapi:fair" in line


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "gunicorn", "-c", "services/flask_sync/gunicorn.conf.py"],
        ["-m", "services.fastapi_async"],
    ],
)
def test_services_started_directly_reject_bad_settings(command, tmp_path) -> None:
    import subprocess
    import sys

    from tests.helpers import PROJECT_ROOT

    env = cli_env(tmp_path, DATABASE_URL="mysql://x@127.0.0.1/db", WEB_PORT="1")
    result = subprocess.run(
        [sys.executable, *command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "invalid settings: DATABASE_URL: must be a postgresql:// URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_prints_url_and_settings_and_stops_on_interrupt(seeded, state_dir) -> None:
    import signal
    import subprocess
    import sys

    from loadtests.infra.ports import free_port
    from tests.helpers import PROJECT_ROOT

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests", "serve", "fastapi", "--port", str(port)],
        cwd=PROJECT_ROOT, env=cli_env(state_dir), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = proc.stdout.readline()
        assert f"on http://127.0.0.1:{port}" in first
        assert httpx.get(f"http://127.0.0.1:{port}/users/1").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    out = proc.stdout.read()
    assert "DB_POOL_SIZE = 20" in out and "stopping" in out
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_embedded_server_is_the_one_serving(embedded: EmbeddedPostgres, seeded) -> None:
    # Sanity: the tests above ran against the session's own server and seed.
    info = database.require_seed(seeded)
    assert info["spec"]["users"] == SMALL_SEED.users
