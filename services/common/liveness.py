"""``DB_CHECKOUT_CHECK``: a pooled connection that died while idle (the database was
restarted, failed over, or reset under it) is found when the pool hands it out, without a
round trip, and replaced instead of failing a request.

``pool_pre_ping`` would find it too, at the cost of a ``SELECT 1`` round trip on every
checkout. A connection whose server went away has something to read, though: PostgreSQL
sends a FATAL message and closes the socket, while a healthy idle connection has nothing
pending (the services LISTEN to nothing). So at checkout: psycopg2's socket is polled
(one ``poll`` with no wait, about a microsecond), and asyncpg, whose protocol reads
eagerly on the event loop, already knows (``is_closed``). A dead one raises
``DisconnectionError``, which makes SQLAlchemy's pool discard it and check out another
(up to three times). A server that vanished without closing its sockets is still found
only on use, as before.
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine


def _dead(dbapi_connection: Any) -> bool:
    raw = getattr(dbapi_connection, "_connection", None)  # SQLAlchemy's asyncpg adapter
    if raw is not None and callable(getattr(raw, "is_closed", None)):
        return bool(raw.is_closed())
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
    except Exception:  # psycopg2 refuses fileno() on a closed connection
        return True
    return bool(poller.poll(0))


def check_on_checkout(engine: Engine) -> None:
    """``engine``'s pool checks every connection it hands out (the sync engine of an
    async one)."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if _dead(dbapi_connection):
            raise exc.DisconnectionError("the server closed this connection while it was idle")
