"""``DB_RECONNECT``: a pooled connection that died while idle (the database was restarted,
failed over, or reset under it) is replaced instead of failing a request, at no round
trip and (on the way that does not fail) no measurable cost.

``pool_pre_ping`` would find a dead connection too, at the cost of a ``SELECT 1`` round
trip on every checkout. Each driver gets the cheapest way that knows:

- **asyncpg** reads eagerly on the event loop, so a connection whose server closed it
  already knows (``is_closed``). The pool's checkout asks (``check_on_checkout``); a dead
  one raises ``DisconnectionError``, which makes SQLAlchemy discard it and check out
  another (up to three times).
- **psycopg2** learns only when the connection is used. Polling its socket at checkout
  finds a closed one too, but cost Flask 1.2% of its throughput (README, "Services that
  survive someone else's database"), so psycopg2 is not probed: the **first statement of a
  transaction** that fails with a disconnect is run again, once, on a fresh connection
  (``retried_once``). That statement never ran: the backend it was sent to had ended. Even
  a disconnect after a statement had run would leave nothing behind, because its
  transaction had not committed; only the first statement is retried all the same, so
  that a connection lost in the middle of a request's work still fails that request.
  SQLAlchemy invalidates the whole pool on that first disconnect, so the other connections
  that died with it are replaced at their next checkout, not each found by a failure.
  A connection cut by the request deadline (deadline.py) is not retried: its server is
  frozen, and the request answers 503 within the deadline.

A server that vanished without closing its sockets (a host lost, not a restart) is found
only on use, by a timeout; the request that finds it answers 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from services.common.deadline import cut_by_deadline

T = TypeVar("T")


def check_on_checkout(engine: Engine) -> None:
    """``engine`` (the sync engine of an async asyncpg one) checks every connection its
    pool hands out."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # SQLAlchemy's adapter keeps the asyncpg connection as ``_connection``.
        if dbapi_connection._connection.is_closed():
            raise exc.DisconnectionError("the server closed this connection while it was idle")


def retried_once(session: Session, statement: Callable[[], T]) -> T:
    """``statement()`` (one statement on ``session``), run again on a fresh connection if it
    was its transaction's first and failed because the connection was dead. Not when the
    request deadline cut it: the server is frozen, and the request must answer 503 now."""
    first = not session.in_transaction()
    try:
        return statement()
    except exc.DBAPIError as error:
        if not (first and error.connection_invalidated) or cut_by_deadline(error):
            raise
        session.rollback()  # hands the dead connection back; the pool discards it
        return statement()
