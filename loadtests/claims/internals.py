"""What async SQLAlchemy does inside each query: greenlet switches, result buffering,
the expire-on-commit re-fetch, asyncpg's prepared-statement cache."""

from __future__ import annotations

import contextlib
import statistics
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import greenlet
from sqlalchemy import Integer, Select, column, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.util import await_only, greenlet_spawn

from loadtests.claims.harness import (
    CHUNKS,
    AsyncCall,
    Call,
    Context,
    OnLoop,
    Sample,
    SyncSource,
    async_session,
    async_sessions,
    interleaved,
    run_loop,
    sync_sessions,
)
from loadtests.claims.registry import Series, claim
from loadtests.claims.rules import AtLeast, Difference, Value
from services.common import queries, sql
from services.common.models import User
from services.common.urls import plain_url

MIB = 2**20


# --- greenlet ---------------------------------------------------------------------------


def _switch_us(count: int) -> float:
    """Microseconds per switch: two greenlets handing control to each other."""

    def partner() -> None:
        parent = greenlet.getcurrent().parent
        assert parent is not None  # only the main greenlet has none; this one runs in `other`
        while True:
            parent.switch()

    other = greenlet.greenlet(partner)
    other.switch()
    per_chunk = []
    for _ in range(CHUNKS):
        started = time.perf_counter()
        for _ in range(count // CHUNKS):
            other.switch()  # two switches: there and back
        per_chunk.append((time.perf_counter() - started) * 1e6 / (2 * (count // CHUNKS)))
    return statistics.median(per_chunk)


async def _nothing() -> None:
    return None


def _bridged() -> None:
    await_only(_nothing())


async def _bridge_us(count: int) -> float:
    """What SQLAlchemy's bridge adds to one query on an open session: ``greenlet_spawn``
    of a function that awaits once through ``await_only`` (four switches), minus the same
    await made directly; chunks of each in turn."""
    for _ in range(100):
        await greenlet_spawn(_bridged)
    size, per_chunk = count // CHUNKS, []
    for _ in range(CHUNKS):
        started = time.perf_counter()
        for _ in range(size):
            await greenlet_spawn(_bridged)
        bridged = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(size):
            await _nothing()
        per_chunk.append((bridged - (time.perf_counter() - started)) * 1e6 / size)
    return statistics.median(per_chunk)


async def _switches_per_query(ctx: Context, count: int, session_per_query: bool) -> float:
    """Switches counted by greenlet's own trace hook around async ORM queries."""
    switches = 0

    def trace(event: str, _: Any) -> None:
        nonlocal switches
        switches += event in ("switch", "throw")

    engine = ctx.async_engine(pool_size=1)
    sessions = async_sessionmaker(engine)
    try:
        async with sessions() as session:
            for i in range(20):  # warm: connect, compile
                (await session.execute(queries.user_by_id(ctx.user_id(i)))).one()
            previous = greenlet.settrace(trace)
            try:
                for i in range(count):
                    if session_per_query:
                        async with sessions() as own:
                            (await own.execute(queries.user_by_id(ctx.user_id(i)))).one()
                    else:
                        (await session.execute(queries.user_by_id(ctx.user_id(i)))).one()
            finally:
                greenlet.settrace(previous)
    finally:
        await engine.dispose()
    return switches / count


@claim(
    "greenlet",
    article='2-5 µs per greenlet switch, at least 4 switches per query, "~0.08 ms per query".',
    source="article 2",
    series=(
        Series("switch_us", "one greenlet switch", "µs"),
        Series("switches", "switches per query, one session", "count"),
        Series("switches_session", "switches per query, a session per query", "count"),
        Series("bridge_ms", "the bridge per query, measured (spawn + one await_only)", "ms"),
        Series("product_ms", "switches per query x one switch", "ms"),
    ),
    checks=(
        Value("switch_us", (2.0, 5.0), "µs", "one switch"),
        AtLeast("switches", 4, "count", "switches per query"),
        Value("bridge_ms", 0.08, "ms", "greenlet cost per query"),
    ),
)
def greenlet_cost(ctx: Context) -> Sample:
    """The greenlet bridge costs about 0.08 ms per async query.

    Three measurements. A bare switch: two greenlets passing control back and forth.
    Switches per query: greenlet's trace hook counts them around async ORM primary-key
    selects, on one session and with a new session per query (as per request). The
    bridge per query: ``greenlet_spawn`` of a function that calls ``await_only`` once,
    which is what one query on an open session does, minus the same await made directly.
    The per-query cost is judged on the bridge as measured; switches times the cost of a
    bare switch is shown beside it.
    """
    switches = ctx.size("greenlet switches", 200_000, 30_000)
    calls = ctx.size("bridge calls", 20_000, 3_000)
    queried = ctx.size("queries traced", 200, 50)

    async def main() -> dict[str, float]:
        return {
            "bridge_ms": await _bridge_us(calls) / 1000,
            "switches": await _switches_per_query(ctx, queried, session_per_query=False),
            "switches_session": await _switches_per_query(ctx, queried, session_per_query=True),
        }

    values = {"switch_us": _switch_us(switches), **run_loop(main)}
    values["product_ms"] = values["switches"] * values["switch_us"] / 1000
    return Sample(values)


# --- pre-buffered results -----------------------------------------------------------------


async def _peak_mib(fetch: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    """Peak Python memory above the start while ``fetch`` runs, and the rows it saw."""
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        rows = await fetch()
        return (tracemalloc.get_traced_memory()[1] - baseline) / MIB, rows
    finally:
        tracemalloc.stop()


@claim(
    "prebuffer",
    article='Pre-buffered results cost "~0.05 ms/query". Also: the memory of a 50,000-row '
    "result, buffered vs stream().",
    source="article 2",
    series=(
        Series("buffered_ms", "session.execute() (pre-buffered)", "ms"),
        Series("unbuffered_ms", "session.execute(), prebuffer_rows=False", "ms"),
        Series("stream_ms", "session.stream()", "ms"),
        Series("buffered_mib", "large result, session.execute().all()", "MiB"),
        Series("stream_mib", "large result, session.stream() in partitions", "MiB"),
    ),
    checks=(
        Difference("buffered_ms", "unbuffered_ms", 0.05, "ms", "buffering, per query"),
        Difference("buffered_ms", "stream_ms", 0.05, "ms", "buffered - stream(), per query"),
    ),
)
def prebuffer(ctx: Context) -> Sample:
    """Async results are pre-buffered, which costs about 0.05 ms per query.

    ``AsyncSession.execute`` loads every row inside the greenlet before returning;
    ``stream()`` instead opens a server-side cursor and fetches as it is iterated. Per
    query (a primary-key select of a user, asyncio loop): the default, the same with
    ``prebuffer_rows=False`` (possible here because asyncpg's ordinary cursor has already
    fetched the rows), and ``stream()``. Memory: the peak Python allocation
    (``tracemalloc``) while reading a large result of rows shaped like order items
    (five integers, from ``generate_series``, so the size does not depend on the seed),
    all at once against ``stream()`` with ``yield_per=1000``.
    """
    count = ctx.size("queries per series", 800, 150)
    rows = ctx.size("rows of the large result", 50_000, 10_000)

    def user(i: int) -> Select[Any]:
        return queries.user_by_id(ctx.user_id(i))

    def buffered(session: AsyncSession) -> AsyncCall:
        async def call(i: int) -> object:
            return (await session.execute(user(i))).one()

        return call

    def unbuffered(session: AsyncSession) -> AsyncCall:
        async def call(i: int) -> object:
            options = {"prebuffer_rows": False}
            return (await session.execute(user(i), execution_options=options)).one()

        return call

    def streamed(session: AsyncSession) -> AsyncCall:
        async def call(i: int) -> object:
            return await (await session.stream(user(i))).one()

        return call

    makers = {"buffered_ms": buffered, "unbuffered_ms": unbuffered, "stream_ms": streamed}
    values = interleaved(
        ctx, {key: async_session(ctx, make) for key, make in makers.items()}, count
    )
    values |= run_loop(lambda: _result_memory(ctx, rows))
    return Sample(values)


def _item_lines(rows: int) -> Select[Any]:
    """``rows`` rows shaped like order items (five integers), made by PostgreSQL itself
    so that the result has the same size whatever the seed holds."""
    n = func.generate_series(1, rows).table_valued(column("value", Integer)).render_derived()
    return select(
        n.c.value.label("id"),
        (n.c.value // 3 + 1).label("order_id"),
        (n.c.value % 1000 + 1).label("product_id"),
        (n.c.value % 5 + 1).label("quantity"),
        (n.c.value % 10_000 + 100).label("unit_price_cents"),
    ).order_by(n.c.value)


async def _result_memory(ctx: Context, rows: int) -> dict[str, float]:
    large = _item_lines(rows)
    engine = ctx.async_engine(pool_size=1)
    try:
        async with AsyncSession(engine) as session:

            async def all_rows() -> int:
                return len((await session.execute(large)).all())

            async def in_partitions() -> int:
                result = await session.stream(large.execution_options(yield_per=1000))
                return sum([len(part) async for part in result.partitions()])

            values = {}
            for key, fetch in (("buffered_mib", all_rows), ("stream_mib", in_partitions)):
                values[key], seen = await _peak_mib(fetch)
                if seen != rows:
                    raise RuntimeError(f"the large result had {seen} rows, not {rows}")
            return values
    finally:
        await engine.dispose()


# --- expire_on_commit -----------------------------------------------------------------------


def _rename_sync(ids: Callable[[int], int]) -> Callable[[sessionmaker[Session]], Call]:
    def make(sessions: sessionmaker[Session]) -> Call:
        def call(i: int) -> object:
            with sessions() as session:
                user = session.get_one(User, ids(i))
                user.name = f"Renamed {i}"
                session.commit()
                return user.name, user.email  # expired: here a SELECT re-fetches the row

        return call

    return make


def _rename_async(
    ids: Callable[[int], int], refresh: bool
) -> Callable[[async_sessionmaker[AsyncSession]], AsyncCall]:
    def make(sessions: async_sessionmaker[AsyncSession]) -> AsyncCall:
        async def call(i: int) -> object:
            async with sessions() as session:
                user = await session.get_one(User, ids(i))
                user.name = f"Renamed {i}"
                await session.commit()
                if refresh:  # reading an expired attribute would raise MissingGreenlet
                    await session.refresh(user)
                return user.name, user.email

        return call

    return make


@claim(
    "expire-refetch",
    article='The expire_on_commit re-fetch costs "~0.4 ms".',
    source="article 2",
    series=(
        Series("async_kept", "async, expire_on_commit=False", "ms"),
        Series("async_refetched", "async, expire_on_commit=True + refresh()", "ms"),
        Series("sync_kept", "sync, expire_on_commit=False", "ms"),
        Series("sync_refetched", "sync, expire_on_commit=True (implicit re-fetch)", "ms"),
    ),
    checks=(Difference("async_refetched", "async_kept", 0.4, "ms", "the re-fetch, async"),),
)
def expire_refetch(ctx: Context) -> Sample:
    """Re-fetching expired objects after commit costs about 0.4 ms.

    A rename as ``PATCH /users/{id}`` does it, one session per operation: get the user,
    change the name, commit, read the attributes for the response. With
    ``expire_on_commit=True`` that read needs the row again: sync SQLAlchemy re-fetches it
    implicitly, async code must ``await session.refresh()``. Milliseconds per operation;
    the cost is the difference (asyncio loop; the sync pair is shown beside it).
    """
    count = ctx.size("operations per series", 400, 60)
    sources: dict[str, SyncSource | OnLoop] = {
        "async_kept": async_sessions(
            ctx, _rename_async(ctx.user_id, refresh=False), expire_on_commit=False
        ),
        "async_refetched": async_sessions(
            ctx, _rename_async(ctx.user_id, refresh=True), expire_on_commit=True
        ),
        "sync_kept": sync_sessions(ctx, _rename_sync(ctx.user_id), expire_on_commit=False),
        "sync_refetched": sync_sessions(ctx, _rename_sync(ctx.user_id), expire_on_commit=True),
    }
    return Sample(interleaved(ctx, sources, count, warmup=20))


# --- asyncpg's statement cache --------------------------------------------------------------


def _shapes(count: int) -> list[str]:
    """``count`` statements that differ only in text (an equivalent LIMIT): each is a
    separate prepared statement to asyncpg, as every new query shape is."""
    return [f"{sql.USER_BY_ID} LIMIT {n + 1}" for n in range(count)]


def _cached(ctx: Context, statements: list[str], cache: int) -> OnLoop:
    """A series: one asyncpg connection with a cache of ``cache`` statements, cycling
    through ``statements``."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[AsyncCall]:
        conn = await asyncpg.connect(plain_url(ctx.url), statement_cache_size=cache)
        try:
            yield lambda i: conn.fetchrow(statements[i % len(statements)], ctx.user_id(i))
        finally:
            await conn.close()

    return OnLoop("asyncio", opened)


@claim(
    "stmt-cache-miss",
    article='An asyncpg statement-cache miss costs "~0.3 ms". Also: 200 query shapes '
    "against a cache of 100.",
    source="article 2",
    series=(
        Series("hit_ms", "one statement, cached", "ms"),
        Series("miss_ms", "one statement, cache off (prepared every time)", "ms"),
        Series("thrash_ms", "200 shapes, cache of 100", "ms"),
        Series("fit_ms", "200 shapes, cache of 200", "ms"),
    ),
    checks=(
        Difference("miss_ms", "hit_ms", 0.3, "ms", "a cache miss"),
        Difference("thrash_ms", "fit_ms", 0.3, "ms", "200 shapes in a cache of 100"),
    ),
)
def stmt_cache_miss(ctx: Context) -> Sample:
    """A statement-cache miss costs about 0.3 ms, and 200 shapes thrash a cache of 100.

    Raw asyncpg on one connection, a primary-key select per call. A hit reuses the
    prepared statement; with the cache off every call prepares again (an extra round
    trip). 200 statements that differ only in text, cycled through asyncpg's LRU cache of
    100 (its default), miss every time; with a cache of 200 they all hit after the
    warm-up. SQLAlchemy's asyncpg dialect keeps its own cache of the same default size.
    """
    count = ctx.size("queries per series", 1_500, 300)
    one, many = [sql.USER_BY_ID], _shapes(200)
    sources: dict[str, SyncSource | OnLoop] = {
        "hit_ms": _cached(ctx, one, 100),
        "miss_ms": _cached(ctx, one, 0),
        "thrash_ms": _cached(ctx, many, 100),
        "fit_ms": _cached(ctx, many, 200),
    }
    # The warm-up fills the cache of 200 with every shape (and cycles the one of 100).
    return Sample(interleaved(ctx, sources, count, warmup=2 * len(many)))
