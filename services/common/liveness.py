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
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine


def _socket_readable(dbapi_connection: Any) -> bool:
    """psycopg2: an idle connection with something to read was closed by the server."""
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
    except Exception:  # psycopg2 refuses fileno() on a closed connection
        return True
    return bool(poller.poll(0))


def _asyncpg_closed(dbapi_connection: Any) -> bool:
    """asyncpg (through SQLAlchemy's adapter, which keeps it as ``_connection``)."""
    return bool(dbapi_connection._connection.is_closed())


# The engine's driver decides the probe once, not every checkout.
DEAD: dict[str, Callable[[Any], bool]] = {
    "psycopg2": _socket_readable,
    "asyncpg": _asyncpg_closed,
}


def check_on_checkout(engine: Engine) -> None:
    """``engine``'s pool checks every connection it hands out (the sync engine of an
    async one)."""
    dead = DEAD[engine.dialect.driver]

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if dead(dbapi_connection):
            raise exc.DisconnectionError("the server closed this connection while it was idle")
