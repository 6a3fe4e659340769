"""Where the time goes: the services' Server-Timing header, put to the test with requests
made slow on purpose, and the load generator's mergeable attribution."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest

from loadtests.recording.attribution import Attribution, parse_header
from tests.conftest import start_service

HOLD_S = 1.0


def _timing(response: httpx.Response) -> dict[str, float]:
    parts = parse_header(response.headers.get("server-timing"))
    assert parts is not None, response.headers
    return {name: micros / 1000 for name, micros in parts.items()}


def _wait_for_a_waiter(url: str, locker: int, timeout: float = 10) -> None:
    """Until a session waits on a lock that backend ``locker`` holds: the request is in
    the database, so that the hold is timed from there however long the request took to
    get there (a loaded machine)."""
    deadline = time.monotonic() + timeout
    conn = psycopg2.connect(url)
    conn.autocommit = True  # each look a fresh snapshot of pg_stat_activity
    try:
        with conn.cursor() as cur:
            while True:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                    (locker,),
                )
                row = cur.fetchone()
                if row and row[0] > 0:
                    return
                assert time.monotonic() < deadline, "the request never reached the locked row"
                time.sleep(0.02)
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["flask", "fastapi", "fastapi:raw", "fastapi:sync-def"])
def test_a_row_lock_shows_up_as_database_time(name, running, seeded) -> None:
    """A PATCH waiting on a row another transaction holds: the time is in `db`."""
    service = running[name]
    locker = psycopg2.connect(seeded.url)
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT 1 FROM users WHERE id = 11 FOR UPDATE")
        with ThreadPoolExecutor(1) as pool:
            blocked = pool.submit(
                httpx.patch, f"{service.url}/users/11", json={"name": f"Locked {time.time()}"},
                timeout=15,
            )  # fmt: skip
            try:
                _wait_for_a_waiter(seeded.url, locker.get_backend_pid())
                time.sleep(HOLD_S)
            finally:  # released even when the wait failed, or the pool waits for the PATCH
                locker.rollback()
            response = blocked.result(timeout=15)
    finally:
        locker.close()
    assert response.status_code == 200, response.text
    parts = _timing(response)
    assert parts["db"] >= HOLD_S * 1000, parts  # it waited in the database all along
    assert parts["db"] > 0.8 * parts["app"], parts
    assert parts["pool"] < 50, parts


@pytest.mark.parametrize("name", ["flask", "fastapi", "fastapi:fair"])
def test_an_exhausted_pool_shows_up_as_pool_time(name, seeded, tmp_path) -> None:
    """One connection, held by a request stuck on a row lock: the next request's time is
    spent waiting for the pool, and is reported as such."""
    service = start_service(
        name, seeded, tmp_path, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=10, WEB_THREADS=3
    )
    locker = psycopg2.connect(seeded.url)
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT 1 FROM users WHERE id = 12 FOR UPDATE")
        with ThreadPoolExecutor(2) as pool:
            holder = pool.submit(
                httpx.patch, f"{service.url}/users/12", json={"name": f"Held {time.time()}"},
                timeout=15,
            )  # fmt: skip
            time.sleep(0.3)
            waiter = pool.submit(httpx.get, f"{service.url}/users/1", timeout=15)
            time.sleep(HOLD_S)
            locker.rollback()
            assert holder.result(timeout=15).status_code == 200
            response = waiter.result(timeout=15)
    finally:
        locker.close()
        service.stop()
    assert response.status_code == 200, response.text
    parts = _timing(response)
    assert parts["pool"] >= (HOLD_S - 0.1) * 1000 * 0.8, parts
    assert parts["pool"] > 0.8 * parts["app"], parts
    assert parts["db"] < 100, parts


def test_every_variant_sends_the_same_names(running) -> None:
    for name, service in running.items():
        response = httpx.get(f"{service.url}/orders/5", timeout=10)
        parts = _timing(response)
        expected = {"app", "pool", "db"} | (
            {"orm"} if name not in ("fastapi:raw", "fastapi:hybrid") else set()
        )
        assert set(parts) == expected, (name, parts)
        assert parts["pool"] + parts["db"] + parts.get("orm", 0) <= parts["app"] + 0.01, (
            name,
            parts,
        )


def test_timing_can_be_switched_off(seeded, tmp_path) -> None:
    for name in ("flask", "fastapi"):
        service = start_service(name, seeded, tmp_path, SERVER_TIMING="off")
        try:
            response = httpx.get(f"{service.url}/users/1", timeout=10)
            assert response.status_code == 200 and "server-timing" not in response.headers
        finally:
            service.stop()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("app;dur=2.5, pool;dur=0.1, db;dur=1.25, orm;dur=0.5",
         {"app": 2500, "pool": 100, "db": 1250, "orm": 500}),
        ("app;dur=1, db;dur=0.5", {"app": 1000, "db": 500}),
        ("cache;desc=hit, app;dur=1", {"app": 1000}),
        (None, None), ("", None), ("db;dur=1", None), ("app;dur=fast", None),
    ],
)  # fmt: skip
def test_header_parsing(value, expected) -> None:
    assert parse_header(value) == expected


def test_attribution_merges_exactly_and_finds_the_tail() -> None:
    parts = {"app": 900, "pool": 100, "db": 500, "orm": 100}
    whole, a, b = Attribution(True), Attribution(True), Attribution(True)
    for index in range(1000):
        latency, timing = (
            (1000 + index, parts)
            if index < 990
            else (100_000, {**parts, "app": 99_000, "pool": 98_000})
        )
        for target in (whole, a if index % 2 else b):
            target.add(latency, timing, success=True)
    whole.add(5000, None, success=False)
    b.add(5000, None, success=False)
    merged = Attribution(True).merge(Attribution.from_dict(a.to_dict())).merge(b)
    assert merged.to_dict() == whole.to_dict()
    assert merged.timed == 1000 and merged.untimed == 1
    count, tail = merged.slowest(100_000)
    assert count == 10 and tail["pool"] == 98_000 and tail["queue"] == 1000
    mean = merged.mean()
    assert mean["queue"] + mean["app"] == pytest.approx(
        (sum(1000 + i for i in range(990)) + 10 * 100_000) / 1000
    )
