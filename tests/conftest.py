"""One embedded PostgreSQL for the whole test session, started the way users start it.

The session server lives in its own state directory, so running the tests never touches
a developer's `.loadtests/` database. It is seeded with a small data set; tests that
measure the default seed size do so in their own database on the same server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtests import database
from loadtests.infra.postgres import EmbeddedPostgres, layout
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
