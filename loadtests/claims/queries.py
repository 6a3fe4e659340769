"""Per-query costs: the same statement, serially, through sync SQLAlchemy + psycopg2,
async SQLAlchemy + asyncpg and raw asyncpg.

Every series runs one connection and one session (one transaction) for all its queries,
as a serial loop in the articles would; ids cycle through the seeded rows. The series
take turns, a tenth of their queries at a time (``harness.interleaved``). The async series run
under both asyncio's default loop and uvloop, since the event loop is the first thing a
reader would suspect of the difference.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from sqlalchemy import Result, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, configure_mappers, joinedload

from loadtests.claims.harness import (
    LOOPS,
    AsyncCall,
    Context,
    OnLoop,
    Sample,
    SyncSource,
    async_session,
    elapsed_ms,
    interleaved,
    run_loop,
    sync_session,
)
from loadtests.claims.registry import Series, claim
from loadtests.claims.rules import NotBelow, Ratio
from services.common import queries, sql
from services.common.models import Order, OrderItem
from services.common.urls import plain_url

Statement = Callable[[int], Select[*tuple[Any, ...]]]  # a SELECT of any columns
PLANS = 20
PLAN_SERIES = Series("plan_ms", "PostgreSQL planning the statement (EXPLAIN ANALYZE)", "ms")


def _one(result: Result[Any], unique: bool) -> object:
    # unique() only where a joined collection repeats the parent row: it hashes every row.
    return result.unique().one() if unique else result.one()


def _eager_3(order_id: int) -> Select[Any]:
    """Order.customer, Order.items and OrderItem.product in one SELECT with JOINs."""
    return (
        select(Order)
        .where(Order.id == order_id)
        .options(
            joinedload(Order.customer),
            joinedload(Order.items).joinedload(OrderItem.product),
        )
    )


def sync_orm(
    ctx: Context, statement: Statement, ids: Callable[[int], int], unique: bool = False
) -> SyncSource:
    """A series: sync SQLAlchemy ORM, one session for all its queries."""
    return sync_session(
        ctx, lambda session: lambda i: _one(session.execute(statement(ids(i))), unique)
    )


def async_orm(
    ctx: Context, statement: Statement, ids: Callable[[int], int], loop: str, unique: bool = False
) -> OnLoop:
    """A series: async SQLAlchemy ORM on ``loop``, one session for all its queries."""

    def make(session: AsyncSession) -> AsyncCall:
        async def call(i: int) -> object:
            return _one(await session.execute(statement(ids(i))), unique)

        return call

    return async_session(ctx, make, loop)


def raw(ctx: Context, query: str, ids: Callable[[int], int], loop: str) -> OnLoop:
    """A series: one asyncpg connection on ``loop``, ``fetchrow`` per query."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[AsyncCall]:
        conn = await asyncpg.connect(plain_url(ctx.url))
        try:
            yield lambda i: conn.fetchrow(query, ids(i))
        finally:
            await conn.close()

    return OnLoop(loop, opened)


def planning_ms(ctx: Context, statement: Statement, ids: Callable[[int], int]) -> float:
    """PostgreSQL's own time to plan the statement (median of a few EXPLAIN ANALYZE):
    psycopg2 sends every query unprepared, so the server plans each one; a statement
    asyncpg prepared can reuse its plan."""
    engine = ctx.sync_engine(pool_size=1)
    times = []
    try:
        with engine.connect() as conn:
            for i in range(PLANS):
                literal = statement(ids(i)).compile(
                    dialect=engine.dialect, compile_kwargs={"literal_binds": True}
                )
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, SUMMARY) {literal}").scalars()
                line = next(row for row in plan if row.startswith("Planning Time:"))
                times.append(float(line.split(":")[1].split()[0]))
    finally:
        engine.dispose()
    return statistics.median(times)


def _sync_and_async(
    ctx: Context, statement: Statement, ids: Callable[[int], int], unique: bool
) -> dict[str, SyncSource | OnLoop]:
    """Series ``sync`` and ``async_<loop>`` for every loop."""
    return {
        "sync": sync_orm(ctx, statement, ids, unique),
        **{f"async_{loop}": async_orm(ctx, statement, ids, loop, unique) for loop in LOOPS},
    }


def _per_loop(claimed: float, what: str) -> tuple[Ratio, ...]:
    return tuple(
        Ratio(f"async_{loop}", "sync", claimed, what, setting=("event loop", loop))
        for loop in LOOPS
    )


QUERY_SERIES = (
    Series("sync", "sync SQLAlchemy + psycopg2", "ms"),
    Series("async_asyncio", "async SQLAlchemy + asyncpg, asyncio loop", "ms"),
    Series("async_uvloop", "async SQLAlchemy + asyncpg, uvloop", "ms"),
    PLAN_SERIES,
)


@claim(
    "pk-select",
    article='10,000 serial "SELECT ... WHERE id = $1": sync psycopg2 0.18 ms/query, '
    'async asyncpg 0.42 ms/query ("2.3x slower").',
    source="article 2",
    series=QUERY_SERIES,
    checks=_per_loop(2.3, "async / sync per query"),
)
def pk_select(ctx: Context) -> Sample:
    """A primary-key SELECT through the ORM: async is 2.3x slower per query than sync.

    ``select(User).where(User.id == id)`` (the services' own statement), one row, in a
    serial loop on one session; milliseconds per query. Fewer queries than the article's
    10,000 keep the whole run under five minutes; every round repeats them in a new process.
    Shown beside them: PostgreSQL's time to plan the statement, which psycopg2 (sending
    every query unprepared) pays on each query and a statement asyncpg prepared can skip.
    """
    count = ctx.size("queries per series", 1_500, 250)
    values = interleaved(ctx, _sync_and_async(ctx, queries.user_by_id, ctx.user_id, False), count)
    return Sample(values | {"plan_ms": planning_ms(ctx, queries.user_by_id, ctx.user_id)})


@claim(
    "eager-3",
    article='The same with joinedload on 3 relations: 0.39 ms sync vs 2.14 ms async ("5.5x").',
    source="article 2",
    series=QUERY_SERIES,
    checks=_per_loop(5.5, "async / sync per query"),
)
def eager_3(ctx: Context) -> Sample:
    """An order with three joined-loaded relations: async is 5.5x slower per query than sync.

    The schema's three relations: ``joinedload(Order.customer)`` and
    ``joinedload(Order.items).joinedload(OrderItem.product)``, one SELECT with three JOINs
    returning an order's 1-5 item rows, de-duplicated with ``unique()``; by order id.
    The planning time beside it matters more here than for a primary key: four tables
    take PostgreSQL longer to plan, on every query psycopg2 sends.
    """
    count = ctx.size("queries per series", 600, 100)
    values = interleaved(ctx, _sync_and_async(ctx, _eager_3, ctx.order_id, True), count)
    return Sample(values | {"plan_ms": planning_ms(ctx, _eager_3, ctx.order_id)})


@claim(
    "raw-vs-orm",
    article="The order summary JOIN: async ORM 2.14 ms, raw asyncpg 0.31 ms, sync ORM 0.39 ms "
    '("raw is 7x faster than async ORM").',
    source="article 2",
    series=(
        Series("orm_asyncio", "async ORM, asyncio loop", "ms"),
        Series("raw_asyncio", "raw asyncpg, asyncio loop", "ms"),
        Series("orm_uvloop", "async ORM, uvloop", "ms"),
        Series("raw_uvloop", "raw asyncpg, uvloop", "ms"),
        Series("sync_orm", "sync ORM + psycopg2", "ms"),
        PLAN_SERIES,
    ),
    checks=tuple(
        Ratio(
            f"orm_{loop}",
            f"raw_{loop}",
            7.0,
            "async ORM / raw asyncpg",
            setting=("event loop", loop),
        )
        for loop in LOOPS
    ),
)
def raw_vs_orm(ctx: Context) -> Sample:
    """The order summary: raw asyncpg is 7x faster than the async ORM.

    One aggregate JOIN of an order, its customer and its items: the ORM statement of
    ``GET /orders/{id}/summary`` (``services/common/queries.py``) against its hand-written
    twin (``services/common/sql.py``) on one asyncpg connection; milliseconds per query.
    The sync ORM and PostgreSQL's planning time for the statement are shown beside them.
    """
    count = ctx.size("queries per series", 600, 100)
    sources: dict[str, SyncSource | OnLoop] = {
        "sync_orm": sync_orm(ctx, queries.order_summary, ctx.order_id),
    }
    for loop in LOOPS:
        sources[f"orm_{loop}"] = async_orm(ctx, queries.order_summary, ctx.order_id, loop)
        sources[f"raw_{loop}"] = raw(ctx, sql.ORDER_SUMMARY, ctx.order_id, loop)
    values = interleaved(ctx, sources, count)
    return Sample(values | {"plan_ms": planning_ms(ctx, queries.order_summary, ctx.order_id)})


def _fresh_sync(ctx: Context) -> tuple[float, float]:
    """(ms to create an engine and connect, ms of the first query on that connection)."""
    started = time.perf_counter()
    engine = ctx.sync_engine(pool_size=1)
    try:
        with Session(engine) as session:
            session.connection()  # connects; SQLAlchemy's first-connect set-up runs here
            connected = time.perf_counter()
            session.execute(queries.user_by_id(1)).one()
            return (connected - started) * 1000, elapsed_ms(connected)
    finally:
        engine.dispose()


def _fresh_async(ctx: Context) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        started = time.perf_counter()
        engine = ctx.async_engine(pool_size=1)
        try:
            async with AsyncSession(engine) as session:
                await session.connection()
                connected = time.perf_counter()
                (await session.execute(queries.user_by_id(1))).one()
                return (connected - started) * 1000, elapsed_ms(connected)
        finally:
            await engine.dispose()

    return run_loop(main)


FRESH = {"sync": _fresh_sync, "async": _fresh_async}


@claim(
    "single-query",
    article='"Async is not faster for a single query."',
    source="primer",
    series=(
        Series("sync_connect", "sync: create the engine + connect", "ms"),
        Series("async_connect", "async: create the engine + connect", "ms"),
        Series("sync_first", "sync: first query on the new connection", "ms"),
        Series("async_first", "async: first query on the new connection", "ms"),
        Series("sync_next", "sync: one query on an open session", "ms"),
        Series("async_next", "async: one query on an open session", "ms"),
    ),
    checks=(
        NotBelow(
            "async_first",
            "sync_first",
            "async / sync, first query on a new connection",
            "async is not faster",
        ),
        NotBelow("async_next", "sync_next", "async / sync, one query", "async is not faster"),
        NotBelow(
            "async_connect",
            "sync_connect",
            "async / sync, create the engine + connect",
            "not part of the claim: connecting, shown beside it",
            decides=False,
        ),
    ),
)
def single_query(ctx: Context) -> Sample:
    """One query on its own: async is not faster than sync.

    A request that runs one query gains nothing from an event loop: nothing else waits.
    Judged twice: the first query on a new connection (a new engine each time, as at an
    application's start; the median of several, the series taking turns, after one
    unmeasured engine of each kind), and one query at a time on an open session
    (asyncio loop); milliseconds. Creating the engine and connecting is timed apart
    and shown beside them, not judged: it is a connection's cost, not a query's.
    """
    configure_mappers()
    # Once each, unmeasured: what a process pays once (importing the dialects' lazy
    # modules, the first socket) is not a query's cost; each measured engine is new.
    for fresh in FRESH.values():
        fresh(ctx)
    count = ctx.size("queries on an open session", 300, 60)
    engines = ctx.size("new engines per series", 9, 5)
    timed: dict[str, list[tuple[float, float]]] = {key: [] for key in FRESH}
    for turn in range(engines):
        for key in ctx.rotated(list(FRESH), turn):
            timed[key].append(FRESH[key](ctx))
    values = {}
    for key, pairs in timed.items():
        values[f"{key}_connect"] = statistics.median(c for c, _ in pairs)
        values[f"{key}_first"] = statistics.median(q for _, q in pairs)
    values |= interleaved(
        ctx,
        {
            "sync_next": sync_orm(ctx, queries.user_by_id, ctx.user_id),
            "async_next": async_orm(ctx, queries.user_by_id, ctx.user_id, "asyncio"),
        },
        count,
    )
    return Sample(values)
