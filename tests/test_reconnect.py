"""Services that survive someone else's database: after the database is reset (dropped
and recreated, so every pooled connection dies while idle), the first requests on the
warm pools must not fail. Each pool replaces a dead connection without a round trip
(services/common/liveness.py: checked at checkout for asyncpg, the first statement retried
for psycopg2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from loadtests.infra import database
from loadtests.variants import BUILTIN
from tests.conftest import every_variant, start_service

WARM = 20  # concurrent requests: the pool holds that many connections afterwards
AFTER = 200  # requests after the reset, 20 at a time


def _statuses(url: str, count: int, concurrent: int) -> list[int]:
    with httpx.Client(timeout=15, limits=httpx.Limits(max_connections=concurrent)) as client:

        def one(index: int) -> int:
            return client.get(f"{url}/users/{index % 500 + 1}").status_code

        with ThreadPoolExecutor(concurrent) as pool:
            return list(pool.map(one, range(count)))


@pytest.mark.slow
def test_a_database_reset_under_warm_pools_costs_no_request(seeded, tmp_path):
    with every_variant(seeded, tmp_path) as services:
        for service in services.values():
            assert set(_statuses(service.url, WARM, WARM)) == {200}
        database.reset(seeded)  # every pooled connection of every variant dies, idle
        failed = {}
        for name, service in services.items():
            statuses = _statuses(service.url, AFTER, WARM)
            if statuses.count(200) != AFTER:
                failed[name] = {s: statuses.count(s) for s in set(statuses)}
        assert not failed, f"requests failed after the reset: {failed}"
        assert set(services) == set(BUILTIN)


@pytest.mark.slow
def test_without_reconnect_a_reset_costs_requests(seeded, tmp_path):
    """The control: the same reset with DB_RECONNECT off fails at least the first
    request on a dead connection, so the test above can fail."""
    service = start_service("flask", seeded, tmp_path, DB_RECONNECT="off")
    try:
        assert set(_statuses(service.url, WARM, WARM)) == {200}
        database.reset(seeded)
        statuses = _statuses(service.url, AFTER, WARM)
    finally:
        service.stop()
    assert statuses.count(200) < AFTER, "no request failed: the reset did not kill the pool"
    assert set(statuses) <= {200, 503}
