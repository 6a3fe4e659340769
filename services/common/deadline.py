"""``REQUEST_DEADLINE_S``: how long a request may hold a database connection.

A frozen server (its processes stopped, its kernel still acknowledging TCP) answers
nothing and enforces nothing: ``statement_timeout`` never fires, and keepalives and
``tcp_user_timeout`` see a healthy peer. Only the client can stop waiting. So a watch
starts when a request takes a connection from the pool (or when a new one has been
opened, before its set-up queries) and stops when the connection is back in the pool,
its reset included. If the deadline passes first, the watch cuts the connection: the
driver call waiting on it fails at once, and the request answers 503
``Database unavailable`` (services/common/errors.py). Opening a connection is bounded by
the drivers' own connect timeouts (``ServiceSettings.connect_limit``), waiting for a free
one by ``DB_POOL_TIMEOUT``.

* asyncpg: ``terminate()``, which closes the socket without a word to the server.
  asyncpg's ``command_timeout`` would do too, but a timed-out command leaves a cancel
  request behind that the frozen server never answers, and the pool waits for it before
  reusing the connection.
* psycopg2: libpq waits inside C, and its cancel request (``connection.cancel()``)
  blocks on a frozen server, holding the GIL. A watchdog thread shuts the socket down
  instead, through a duplicate of its descriptor (so that it can never hit a number that
  libpq closed and the process reused), and libpq's blocked call fails. A wait callback
  with a bounded ``select()`` works too, but costs Flask 4% of its throughput.

Each watch sweeps the connections in use every ``TICK`` seconds, so a request costs a
few dictionary operations, not a timer or a system call. A cut invalidates that
connection only: the pool keeps its others, which work again as soon as a frozen server
runs again (a dead server's fail on their next use, as before).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import weakref
from collections.abc import Callable
from functools import partial
from time import monotonic, sleep
from typing import Any

from sqlalchemy import Engine, event, exc
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.pool import ConnectionPoolEntry

TICK = 0.05  # seconds between sweeps: how late a cut may come

log = logging.getLogger(__name__)

# Driver connections cut by a deadline, so that their errors are told from outages.
_cut: weakref.WeakSet[Any] = weakref.WeakSet()
# The errors those cuts raised: the request must answer 503, not retry (liveness.py).
_cut_errors: weakref.WeakSet[BaseException] = weakref.WeakSet()


def cut_by_deadline(error: BaseException) -> bool:
    """Whether ``error`` is a statement failing because its request's deadline passed."""
    return error in _cut_errors


class LoopWatch:
    """asyncpg connections, swept on the event loop that uses them."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._held: dict[Any, tuple[float, Callable[[], object]]] = {}
        self._sweeping = False

    def start(self, key: Any, terminate: Callable[[], object]) -> None:
        if key not in self._held:  # a new connection's watch runs on into its checkout
            self._held[key] = (monotonic() + self.deadline, terminate)
            if not self._sweeping:
                self._sweeping = True
                asyncio.get_running_loop().call_later(TICK, self._sweep)

    def stop(self, key: Any) -> float:
        """Stop watching; the seconds that were left."""
        held = self._held.pop(key, None)
        return held[0] - monotonic() if held else 0.0

    def _sweep(self) -> None:
        now = monotonic()
        for key in [key for key, (until, _) in self._held.items() if until <= now]:
            try:
                self._held.pop(key)[1]()
            except Exception:  # the sweep must go on
                log.exception("request deadline: could not cut a connection")
        if self._held:
            asyncio.get_running_loop().call_later(TICK, self._sweep)
        else:
            self._sweeping = False


class ThreadWatch:
    """psycopg2 connections, swept by a thread (one per engine)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        # Dict operations are atomic under the GIL: whoever pops a connection owns it.
        self._held: dict[Any, tuple[float, Any]] = {}
        self._dups: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        threading.Thread(target=self._watch, name="request-deadline", daemon=True).start()

    def start(self, key: Any, connection: Any) -> None:
        if key not in self._held:
            if connection not in self._dups:  # closed with the connection object
                self._dups[connection] = fileno = os.dup(connection.fileno())
                weakref.finalize(connection, os.close, fileno)
            self._held[key] = (monotonic() + self.deadline, connection)

    def stop(self, key: Any, connection: Any) -> None:
        if self._held.pop(key, None) is None and connection is not None:
            # Cut by the sweep just as the request gave it back (a connection that the
            # cut made fail is invalidated, None here): the next checkout must not take it.
            _cut.add(connection)

    def _watch(self) -> None:
        while True:
            sleep(TICK)
            now = monotonic()
            for key, (until, connection) in list(self._held.items()):
                if until <= now and self._held.pop(key, None) is not None:
                    try:
                        _cut.add(connection)
                        _shutdown(self._dups[connection])
                    except Exception:  # a watchdog that dies silently is worse than none
                        log.exception("request deadline: could not cut a connection")


def _shutdown(fileno: int) -> None:
    """Shut the socket down through our duplicate of its descriptor (which stays open)."""
    sock = socket.socket(fileno=fileno)
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other side
    finally:
        sock.detach()


def watch(engine: Engine, watcher: LoopWatch | ThreadWatch) -> None:
    """Watch every connection the engine's pool hands out (``engine.sync_engine`` for an
    async engine)."""

    def start(record: ConnectionPoolEntry) -> None:
        connection = record.driver_connection
        if isinstance(watcher, LoopWatch):
            watcher.start(record, partial(_terminate, connection))
        else:
            watcher.start(record, connection)

    def opened(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        start(record)

    def taken(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if record.driver_connection in _cut:
            raise exc.DisconnectionError("cut by the request deadline")  # the pool retries
        start(record)

    def returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if isinstance(watcher, LoopWatch):
            watcher.stop(record)
        else:
            watcher.stop(record, record.driver_connection)

    pool = engine.pool
    # insert=True: before SQLAlchemy's own listeners, which send the set-up queries.
    event.listen(pool, "connect", opened, insert=True)
    event.listen(pool, "checkout", taken)
    event.listen(pool, "checkin", returned)
    event.listen(engine, "handle_error", _only_that_connection)


def _terminate(connection: Any) -> None:
    _cut.add(connection)
    connection.terminate()


def _only_that_connection(context: ExceptionContext) -> None:
    """A cut connection is a disconnect, but not a sign that the pool's others are gone
    (which SQLAlchemy assumes of a disconnect: it would recycle them all, and closing an
    asyncpg connection gracefully waits for the frozen server too)."""
    connection = context.connection
    if connection is None or connection.invalidated or connection.closed:
        return
    if connection.connection.driver_connection in _cut:
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = False
        if context.sqlalchemy_exception is not None:
            _cut_errors.add(context.sqlalchemy_exception)
