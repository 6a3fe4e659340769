"""``retried_once`` (DB_RECONNECT for psycopg2) against a real PostgreSQL: a transaction's
first statement on a connection whose backend ended while it was idle runs again on a
fresh one; anything else fails as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, exc, text
from sqlalchemy.orm import Session, sessionmaker

from loadtests.infra import database
from services.common.liveness import retried_once
from services.common.urls import sync_url

BACKEND = text("SELECT pg_backend_pid()")


@pytest.fixture
def sessions(seeded: database.Target) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(sync_url(seeded.url), pool_size=1, max_overflow=0)
    try:
        yield sessionmaker(engine)
    finally:
        engine.dispose()


def _end_backend(target: database.Target, pid: int) -> None:
    """End ``pid`` as a restart would (PostgreSQL closes its socket), waiting until it is gone
    (PostgreSQL's own wait: the two-argument pg_terminate_backend)."""
    with database.connect(target.url) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
        ended = cursor.fetchone()
        cursor.execute("SELECT state, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,))
        assert ended == (True,), f"backend {pid} did not end: {cursor.fetchall()}"


def _idle_dead_connection(sessions: sessionmaker[Session], target: database.Target) -> int:
    with sessions() as session:
        pid: int = session.execute(BACKEND).scalar_one()
    _end_backend(target, pid)  # the pool's only connection is now dead, idle
    return pid


def test_a_first_statement_on_a_dead_idle_connection_runs_again_on_a_fresh_one(
    sessions: sessionmaker[Session], seeded: database.Target
) -> None:
    dead = _idle_dead_connection(sessions, seeded)
    calls = 0
    with sessions() as session:

        def statement() -> int:
            nonlocal calls
            calls += 1
            return session.execute(BACKEND).scalar_one()

        pid = retried_once(session, statement)
    assert (calls, pid != dead) == (2, True)


def test_without_the_retry_that_statement_fails(
    sessions: sessionmaker[Session], seeded: database.Target
) -> None:
    """The control: the connection really is dead, so the test above can fail."""
    _idle_dead_connection(sessions, seeded)
    with sessions() as session, pytest.raises(exc.DBAPIError) as failure:
        session.execute(BACKEND)
    assert failure.value.connection_invalidated


def test_a_connection_lost_after_the_transactions_first_statement_fails_the_request(
    sessions: sessionmaker[Session], seeded: database.Target
) -> None:
    """Later statements are not retried: the work before them is gone with the backend."""
    with sessions() as session:
        pid = retried_once(session, lambda: session.execute(BACKEND).scalar_one())
        _end_backend(seeded, pid)
        with pytest.raises(exc.DBAPIError) as failure:
            retried_once(session, lambda: session.execute(text("SELECT 1")).scalar_one())
    assert failure.value.connection_invalidated


def test_an_error_that_is_not_a_disconnect_is_not_retried(
    sessions: sessionmaker[Session],
) -> None:
    calls = 0
    with sessions() as session:

        def statement() -> object:
            nonlocal calls
            calls += 1
            return session.execute(text("SELECT * FROM no_such_table"))

        with pytest.raises(exc.ProgrammingError):
            retried_once(session, statement)
    assert calls == 1
