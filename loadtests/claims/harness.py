"""What a claim's function gets inside its worker process, and the timing helpers the
claims share.

A ``Context`` knows the database, the round, whether the run is ``--quick`` and the
seed's sizes; ``size()`` picks a count and records it, so the page can say how much
was measured.

``interleaved()`` times several series against each other: each is opened once (its
engine, session or connection, on its own event loop for async ones), warmed up, then
all are run in turns, a chunk of calls each, and each series' value is the median of its
chunks. The machine drifts by 10-40% within minutes; taking turns spreads the drift over
every series alike and the median drops the chunks a stray process disturbed. The
warm-up is not measured: the first queries of a connection pay for SQLAlchemy's
statement cache, asyncpg's type introspection and prepared statements, which are not
what the claims are about.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvloop
from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from services.common.urls import async_url, sync_url

T = TypeVar("T")
LOOPS = ("asyncio", "uvloop")
WARMUP = 30  # enough for the caches and for PostgreSQL's plan cache (5 runs)
CHUNKS = 10

Call = Callable[[int], object]
AsyncCall = Callable[[int], Awaitable[object]]
# A sync series: opens what it needs and yields the call to time (with the call's index).
SyncSource = Callable[[], contextlib.AbstractContextManager[Call]]
Timer = Callable[[int, int], float]  # (first index, calls) -> seconds


@dataclass
class Sample:
    """What one round of a claim measured: numbers by series key, and text to show."""

    values: dict[str, float]
    evidence: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    url: str  # the scratch copy of the seeded database (postgresql://)
    round: int  # 1-based
    quick: bool
    users: int  # rows of the seed, so ids are always valid
    orders: int
    extra: dict[str, str] = field(default_factory=dict)  # what the parent provided
    sizes: dict[str, int] = field(default_factory=dict)

    def size(self, name: str, full: int, quick: int) -> int:
        """A count for this run (``quick`` under --quick), recorded for the page."""
        self.sizes[name] = quick if self.quick else full
        return self.sizes[name]

    def user_id(self, i: int) -> int:
        return i % self.users + 1

    def order_id(self, i: int) -> int:
        return i % self.orders + 1

    def rotated(self, items: Sequence[T], turn: int = 0) -> list[T]:
        """``items`` in a different order each round (and turn), so that no series is
        always measured first (a warming CPU or cache would favour it every time)."""
        shift = (self.round - 1 + turn) % len(items)
        return [*items[shift:], *items[:shift]]

    def sync_engine(self, **options: Any) -> Engine:
        return create_engine(sync_url(self.url), **options)

    def async_engine(self, **options: Any) -> AsyncEngine:
        return create_async_engine(async_url(self.url), **options)


@dataclass(frozen=True)
class OnLoop:
    """An async series: ``open()`` yields the coroutine function to time, on a new event
    loop of the named kind."""

    loop: str
    open: Callable[[], contextlib.AbstractAsyncContextManager[AsyncCall]]


def sync_session(ctx: Context, make: Callable[[Session], Call], **engine: Any) -> SyncSource:
    """A sync series on one session (closed, so rolled back, at the end)."""

    @contextlib.contextmanager
    def opened() -> Iterator[Call]:
        bound = ctx.sync_engine(pool_size=1, **engine)
        try:
            with Session(bound) as session:
                yield make(session)
        finally:
            bound.dispose()

    return opened


def sync_sessions(
    ctx: Context, make: Callable[[sessionmaker[Session]], Call], **options: Any
) -> SyncSource:
    """A sync series whose calls open their own sessions (``options`` go to the
    sessionmaker)."""

    @contextlib.contextmanager
    def opened() -> Iterator[Call]:
        bound = ctx.sync_engine(pool_size=1)
        try:
            yield make(sessionmaker(bound, **options))
        finally:
            bound.dispose()

    return opened


def async_session(
    ctx: Context, make: Callable[[AsyncSession], AsyncCall], loop: str = "asyncio", **engine: Any
) -> OnLoop:
    """An async series on one session (closed, so rolled back, at the end)."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[AsyncCall]:
        bound = ctx.async_engine(pool_size=1, **engine)
        try:
            async with AsyncSession(bound) as session:
                yield make(session)
        finally:
            await bound.dispose()

    return OnLoop(loop, opened)


def async_sessions(
    ctx: Context,
    make: Callable[[async_sessionmaker[AsyncSession]], AsyncCall],
    loop: str = "asyncio",
    **options: Any,
) -> OnLoop:
    """An async series whose calls open their own sessions."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[AsyncCall]:
        bound = ctx.async_engine(pool_size=1)
        try:
            yield make(async_sessionmaker(bound, **options))
        finally:
            await bound.dispose()

    return OnLoop(loop, opened)


def run_loop(main: Callable[[], Coroutine[Any, Any, T]], loop: str = "asyncio") -> T:
    """Run ``main()`` on a new event loop of the named kind."""
    return uvloop.run(main()) if loop == "uvloop" else asyncio.run(main())


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    return uvloop.new_event_loop() if kind == "uvloop" else asyncio.new_event_loop()


@contextlib.contextmanager
def _sync_timer(source: SyncSource) -> Iterator[Timer]:
    with source() as call:

        def timed(first: int, count: int) -> float:
            started = time.perf_counter()
            for i in range(first, first + count):
                call(i)
            return time.perf_counter() - started

        yield timed


@contextlib.contextmanager
def _loop_timer(source: OnLoop) -> Iterator[Timer]:
    """The series' own loop, run a chunk at a time: loops of both kinds can take turns
    in one thread, each driving only its own connections."""
    loop = _new_loop(source.loop)
    try:
        opened = source.open()
        call = loop.run_until_complete(opened.__aenter__())

        async def chunk(first: int, count: int) -> float:
            started = time.perf_counter()  # inside the loop: its own start-up is excluded
            for i in range(first, first + count):
                await call(i)
            return time.perf_counter() - started

        try:
            yield lambda first, count: loop.run_until_complete(chunk(first, count))
        finally:
            loop.run_until_complete(opened.__aexit__(None, None, None))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def interleaved(
    ctx: Context,
    sources: dict[str, SyncSource | OnLoop],
    calls: int,
    chunk: int | None = None,
    warmup: int = WARMUP,
) -> dict[str, float]:
    """Milliseconds per call of each series: the median over chunks of ``chunk`` calls
    (by default a tenth of them), the series taking turns (see the module's docstring)."""
    chunk = chunk or max(1, calls // CHUNKS)
    with contextlib.ExitStack() as stack:
        timers = {
            key: stack.enter_context(
                _loop_timer(source) if isinstance(source, OnLoop) else _sync_timer(source)
            )
            for key, source in sources.items()
        }
        for timer in timers.values():
            timer(0, warmup)
        chunks: dict[str, list[float]] = {key: [] for key in timers}
        for turn in range(max(1, calls // chunk)):
            for key in ctx.rotated(list(timers), turn):
                chunks[key].append(timers[key](warmup + turn * chunk, chunk) / chunk)
    return {key: statistics.median(values) * 1000 for key, values in chunks.items()}


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, without SQLAlchemy's link to its docs."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(" (Background on this error")[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
