"""Where a request's time goes, measured inside the service and reported in a standard
``Server-Timing`` header (W3C Server Timing), with the same names in every variant:

* ``app``: from the framework handing the request to the application until the response
  is ready (session closed, body encoded), middleware to middleware;
* ``pool``: waiting to check out a database connection (opening one included, and the
  fair gate's queue where it is on);
* ``db``: inside the database driver's round trips, summed over the request: psycopg2's
  ``execute``/``commit``/``rollback``, asyncpg's protocol calls. It includes the wait to
  be resumed once the answer is there (the event loop's or the GIL's turn), which grows
  with concurrency; ``pg_stat_statements`` in the report shows the server's own share;
* ``orm``: SQLAlchemy's own time around the driver: the outer time of the session calls
  minus the pool and database time inside them (statement caching, the async ORM's
  greenlet bridge, result buffering, loading objects, the unit of work). Sent only where
  the ORM ran.

What is left of ``app`` (framework, validation, serialisation, thread hops) is the
application's own code; the load generator derives ``queue`` (client latency - app) for
the time before the application saw the request.

The request's ``Timing`` lives in a context variable: SQLAlchemy's greenlets and AnyIO's
worker threads carry it along. With ``SERVER_TIMING=off`` nothing is installed and the
spans below cost one context-variable lookup.
"""

from __future__ import annotations

import contextvars
from time import perf_counter
from typing import Any

import psycopg2.extensions
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection, QueuePool

HEADER = "server-timing"


class Timing:
    """One request's components, in seconds."""

    __slots__ = ("db", "orm", "orm_used", "pool", "start", "waiting")

    def __init__(self) -> None:
        self.start = perf_counter()
        self.pool = 0.0
        self.db = 0.0
        self.orm = 0.0
        self.orm_used = False
        self.waiting = 0  # > 0 while checking out: round trips then belong to the pool

    def header(self) -> str:
        app = (perf_counter() - self.start) * 1000
        text = f"app;dur={app:.3f}, pool;dur={self.pool * 1000:.3f}, db;dur={self.db * 1000:.3f}"
        if self.orm_used:
            text += f", orm;dur={self.orm * 1000:.3f}"
        return text


current: contextvars.ContextVar[Timing | None] = contextvars.ContextVar(
    "loadtests_timing", default=None
)


class _Span:
    """Adds the time of its block to the request's ``field`` (a no-op without a request
    being timed). A class with slots, not a generator: it runs several times a request."""

    __slots__ = ("start", "timing")

    def __enter__(self) -> None:
        self.timing = current.get()
        self.start = perf_counter()

    def __exit__(self, *_: object) -> None:
        timing = self.timing
        if timing is not None:
            self.add(timing, perf_counter() - self.start)

    def add(self, timing: Timing, seconds: float) -> None:
        raise NotImplementedError


class PoolWait(_Span):
    __slots__ = ()

    def __enter__(self) -> None:
        super().__enter__()
        if self.timing is not None:
            self.timing.waiting += 1

    def add(self, timing: Timing, seconds: float) -> None:
        timing.waiting -= 1
        if timing.waiting == 0:  # the outermost wait only
            timing.pool += seconds


def add_driver_time(timing: Timing, seconds: float) -> None:
    if timing.waiting == 0:  # a new connection's set-up queries are pool time
        timing.db += seconds


class DriverCall(_Span):
    __slots__ = ()

    def add(self, timing: Timing, seconds: float) -> None:
        add_driver_time(timing, seconds)


class OrmCall(_Span):
    """A session call: its time minus the pool and database time inside it is the ORM's."""

    __slots__ = ("inner",)

    def __enter__(self) -> None:
        super().__enter__()
        timing = self.timing
        self.inner = timing.pool + timing.db if timing is not None else 0.0

    def add(self, timing: Timing, seconds: float) -> None:
        timing.orm += seconds - (timing.pool + timing.db - self.inner)
        timing.orm_used = True


# -- SQLAlchemy pools: checking out a connection is pool time ----------------------------


class TimedQueuePool(QueuePool):
    def connect(self) -> PoolProxiedConnection:
        with PoolWait():
            return super().connect()


class TimedAsyncQueuePool(AsyncAdaptedQueuePool):
    def connect(self) -> PoolProxiedConnection:
        # Runs in SQLAlchemy's greenlet; the wall time covers the awaited queue.
        with PoolWait():
            return super().connect()


# -- psycopg2: every round trip goes through execute, commit or rollback -----------------


class TimedCursor(psycopg2.extensions.cursor):
    def execute(self, query: Any, vars: Any = None) -> None:
        with DriverCall():
            super().execute(query, vars)

    def executemany(self, query: Any, vars_list: Any) -> None:
        with DriverCall():
            super().executemany(query, vars_list)


class TimedConnection(psycopg2.extensions.connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = TimedCursor

    def commit(self) -> None:
        with DriverCall():
            super().commit()

    def rollback(self) -> None:
        with DriverCall():
            super().rollback()
