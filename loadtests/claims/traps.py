"""The traps of async SQLAlchemy: each is reproduced on purpose, timed where time is the
point, and shown next to its fix. "Reproduced" means the trap happens as claimed."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Select, create_engine, event, select, text
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, relationship, selectinload

from loadtests.claims.harness import Context, Sample, elapsed_ms, one_line, run_loop
from loadtests.claims.registry import Series, claim
from loadtests.claims.rules import AtLeast, Exceeds, Happens, Within
from services.common import queries
from services.common.models import Customer, Order, User
from services.common.urls import async_url, sync_url

# --- MissingGreenlet after commit -------------------------------------------------------------

# series -> (expire_on_commit, refresh before the read, the code as shown); first the trap
ATTEMPTS = {
    "raised": (True, False, "expire_on_commit=True (the default)"),
    "fix_kept": (False, False, "fix: expire_on_commit=False"),
    "fix_refresh": (True, True, "fix: await session.refresh(user)"),
}


@claim(
    "trap-missing-greenlet",
    article="Reading an attribute after commit with expire_on_commit=True raises MissingGreenlet.",
    source="article 1",
    series=(
        Series("raised", "MissingGreenlet raised", "flag"),
        Series("fix_kept", "fixed by expire_on_commit=False", "flag"),
        Series("fix_refresh", "fixed by await session.refresh()", "flag"),
    ),
    checks=(
        Happens("raised", "MissingGreenlet", "raised on the attribute read"),
        Happens("fix_kept", "expire_on_commit=False", "the read works"),
        Happens("fix_refresh", "await session.refresh()", "the read works"),
    ),
    rounds=1,
)
def missing_greenlet(ctx: Context) -> Sample:
    """Reading an attribute after commit raises MissingGreenlet when expire_on_commit=True.

    An async session with SQLAlchemy's default ``expire_on_commit=True`` loads a user,
    renames it, commits and reads ``user.name``: the attribute is expired, loading it
    would need I/O outside the greenlet bridge. Then the two fixes: a session with
    ``expire_on_commit=False`` (what both services use), and an explicit
    ``await session.refresh(user)`` before the read. Behaviour, not timing: one round.
    """

    async def read_after_commit(engine: AsyncEngine, expire: bool, refresh: bool) -> str:
        async with async_sessionmaker(engine, expire_on_commit=expire)() as session:
            user = await session.get_one(User, 1)
            user.name = "Renamed"
            await session.commit()
            if refresh:
                await session.refresh(user)
            return user.name  # the trap: an expired attribute needs I/O here

    async def main() -> Sample:
        engine = ctx.async_engine(pool_size=1)
        values, evidence = {}, {}
        try:
            for key, (expire, refresh, code) in ATTEMPTS.items():
                try:
                    name = await read_after_commit(engine, expire, refresh)
                    values[key] = float(key != "raised")
                    evidence[code] = f"user.name read after commit: {name!r}"
                except MissingGreenlet as exc:
                    values[key] = float(key == "raised")
                    evidence[code] = one_line(exc)
        finally:
            await engine.dispose()
        return Sample(values, evidence)

    return run_loop(main)


# --- lazy loading ---------------------------------------------------------------------------


class _LazyBase(DeclarativeBase):
    pass


class LazyCustomer(_LazyBase):
    """The customers table again, in a mapping of its own."""

    __table__ = Customer.__table__


class LazyOrder(_LazyBase):
    """The orders table with SQLAlchemy's default lazy loading, which the project's
    models forbid (``lazy="raise"``)."""

    __table__ = Order.__table__
    id: Mapped[int]  # typing only: the column comes from __table__
    # viewonly: the project's Order mapping already writes orders.customer_id.
    customer: Mapped[LazyCustomer] = relationship(viewonly=True)


def _customers(session: Session, statement: Select[Any]) -> tuple[int, int]:
    """(queries sent, distinct customers) while reading every order's customer."""
    sent = 0

    def count(*_: Any) -> None:
        nonlocal sent
        sent += 1

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        orders = session.scalars(statement).all()
        customers = {order.customer.id for order in orders}
    finally:
        event.remove(bind, "before_cursor_execute", count)
    return sent, len(customers)


@claim(
    "trap-lazy-load",
    article="A lazy relationship in async code raises MissingGreenlet, or issues N+1 queries.",
    source="article 1",
    series=(
        Series("raised", "async: MissingGreenlet raised", "flag"),
        Series("lazy_queries", "sync: queries, lazy", "count"),
        Series("n_plus_one", "sync: lazy queries = 1 + one per customer", "flag"),
        Series("eager_queries", "sync: queries, selectinload", "count"),
        Series("lazy_ms", "sync: lazy", "ms"),
        Series("eager_ms", "sync: selectinload", "ms"),
    ),
    checks=(
        Happens("raised", "async", "MissingGreenlet on the lazy attribute"),
        Happens("n_plus_one", "sync", "N+1 queries"),
    ),
    rounds=1,
)
def lazy_load(ctx: Context) -> Sample:
    """A lazy relationship raises MissingGreenlet in async code and costs N+1 queries in sync.

    The orders table mapped again with SQLAlchemy's default ``lazy="select"`` on
    ``customer`` (the project's own models use ``lazy="raise"`` to make this impossible).
    The first orders are loaded and each order's customer is read: in async code the
    first read raises; in sync code every new customer costs a query (counted with a
    ``before_cursor_execute`` listener). The fix, ``selectinload``, needs two queries.
    Behaviour, not timing: one round.
    """
    count = ctx.size("orders read", 20, 20)
    statement = select(LazyOrder).order_by(LazyOrder.id).limit(count)
    engine = ctx.sync_engine(pool_size=1)
    eager = statement.options(selectinload(LazyOrder.customer))
    values: dict[str, float] = {}
    try:
        with Session(engine) as session:
            _customers(session, eager)  # unmeasured: connect, compile, plan
        for key, loaded in (("lazy", statement), ("eager", eager)):
            with Session(engine) as session:
                started = time.perf_counter()
                sent, customers = _customers(session, loaded)
                values[f"{key}_ms"] = elapsed_ms(started)
                values[f"{key}_queries"] = sent
                if key == "lazy":
                    values["n_plus_one"] = float(sent == 1 + customers)
    finally:
        engine.dispose()

    async def in_async() -> tuple[float, str]:
        async_engine = ctx.async_engine(pool_size=1)
        try:
            async with AsyncSession(async_engine) as session:
                orders = (await session.scalars(statement)).all()
                try:
                    orders[0].customer  # noqa: B018 - the read is the trap
                except MissingGreenlet as exc:
                    return 1.0, one_line(exc)
                return 0.0, "no exception"
        finally:
            await async_engine.dispose()

    values["raised"], exception = run_loop(in_async)
    return Sample(
        values,
        {
            "the exception": exception,
            "queries": f"{count} orders: {values['lazy_queries']:.0f} queries lazily, "
            f"{values['eager_queries']:.0f} with selectinload",
        },
    )


# --- nested sessions under gather -------------------------------------------------------------

DEADLOCK_POOL = 5
DEADLOCK_TIMEOUT_S = 1.0


async def _nested(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as outer:
        await outer.execute(text("SELECT 1"))  # holds a connection
        async with sessions() as inner:  # and waits for a second one
            await inner.execute(text("SELECT 1"))


async def _shared(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
        await session.execute(text("SELECT 1"))  # the inner work on the same session


async def _gathered(
    engine: AsyncEngine, task: Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]]
) -> tuple[float, float, list[BaseException]]:
    """(ms until the first task ended, ms until all had, the failures)."""
    sessions = async_sessionmaker(engine)
    started, ended = time.perf_counter(), []

    async def timed() -> None:
        try:
            await task(sessions)
        finally:
            ended.append(elapsed_ms(started))

    results = await asyncio.gather(*(timed() for _ in range(DEADLOCK_POOL)), return_exceptions=True)
    return min(ended), max(ended), [r for r in results if isinstance(r, BaseException)]


@claim(
    "trap-gather-deadlock",
    article="Nested sessions under asyncio.gather with pool N and overflow 0 wait until "
    "pool_timeout, then all fail.",
    source="article 1",
    series=(
        Series("first_ended", "first task ended / pool_timeout", "x"),
        Series("failed", f"tasks failed (of {DEADLOCK_POOL})", "count"),
        Series("ended_ms", "all tasks ended", "ms"),
        Series("fixed_failed", "fixed: tasks failed", "count"),
        Series("fixed_ms", "fixed: all tasks ended", "ms"),
    ),
    checks=(
        Within("first_ended", 1.0, 1.5, "x", "the first task ends", "only at pool_timeout"),
        AtLeast(
            "failed", DEADLOCK_POOL - 1, "count", "tasks failed (all, or all but one)", "all fail"
        ),
        Happens("fixed_failed", "one session per task", "no failure", "count", never=True),
    ),
    rounds=2,
)
def gather_deadlock(ctx: Context) -> Sample:
    """Nested sessions under gather deadlock the pool until pool_timeout, then all fail.

    A pool of 5 with no overflow and a 1 s ``pool_timeout`` (short, so that it runs
    fast). Five tasks are gathered; each opens a session, runs a query (so it holds a
    connection) and opens a second session inside the first: every task holds one
    connection and waits for another that nobody will return. Nothing moves until the
    timeout. Then the waits time out a few microseconds apart, and the connection the
    first failure returns can reach a waiter whose timeout has not fired yet: the rule
    accepts all tasks failing or all but one, and the count is shown. Then the fix: the
    inner work uses the outer session. Two rounds at most: the timeout is the time.
    """

    async def main() -> Sample:
        engine = ctx.async_engine(
            pool_size=DEADLOCK_POOL, max_overflow=0, pool_timeout=DEADLOCK_TIMEOUT_S
        )
        try:
            first_ms, ended_ms, errors = await _gathered(engine, _nested)
            _, fixed_ms, fixed_errors = await _gathered(engine, _shared)
        finally:
            await engine.dispose()
        values = {
            "first_ended": first_ms / 1000 / DEADLOCK_TIMEOUT_S,
            "failed": float(len(errors)),
            "ended_ms": ended_ms,
            "fixed_failed": float(len(fixed_errors)),
            "fixed_ms": fixed_ms,
        }
        kinds = sorted({one_line(e) for e in errors})
        evidence = {"the exception": kinds[0] if kinds else "none"}
        if not all(isinstance(e, PoolTimeout) for e in errors):
            evidence["other failures"] = "; ".join(kinds)
        return Sample(values, evidence)

    return run_loop(main)


# --- gather against a pool ------------------------------------------------------------------

STARVATION_POOL = 20
GATHERED = 100
SEMAPHORE = STARVATION_POOL // 2


class _PeakCheckout:
    """The most connections checked out of an engine's pool at once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.now = self.peak = 0
        event.listen(engine.sync_engine, "checkout", self._out)
        event.listen(engine.sync_engine, "checkin", self._in)

    def _out(self, *_: Any) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def _in(self, *_: Any) -> None:
        self.now -= 1

    def reset(self) -> None:
        self.peak = self.now


async def _with_bystander(
    sessions: async_sessionmaker[AsyncSession], work: Awaitable[object], held: _PeakCheckout
) -> tuple[float, float]:
    """(ms for ``work``, ms one other request started just after it waited for a
    connection). The wait, not the request's whole time: on one busy core every
    coroutine also waits for its turn on the loop, which no pool setting changes."""

    async def bystander() -> float:
        started = time.perf_counter()
        async with sessions() as session:
            await session.connection()
            waited = elapsed_ms(started)
            (await session.execute(queries.user_by_id(1))).one()
        return waited

    started = time.perf_counter()
    job = asyncio.ensure_future(work)
    # The other request arrives once the work holds its connections: yield until the
    # work's tasks have taken them, then once more so that all of them have had a turn.
    for _ in range(100):
        await asyncio.sleep(0)
        if held.now or job.done():
            break
    await asyncio.sleep(0)
    waited = await bystander()
    await job
    return elapsed_ms(started), waited


@claim(
    "trap-gather-starvation",
    article="100 gathered sessions against a pool of 20 [starve the pool]. "
    "The fixes: one batched IN query, and a semaphore.",
    source="article 1",
    series=(
        Series("gather_ms", "100 gathered sessions", "ms"),
        Series("batched_ms", "one batched IN query", "ms"),
        Series("semaphore_ms", f"gathered behind a semaphore of {SEMAPHORE}", "ms"),
        Series("alone_wait_ms", "another request's wait for a connection, alone", "ms"),
        Series("gather_wait_ms", "its wait during the gather", "ms"),
        Series("batched_wait_ms", "its wait during the IN query", "ms"),
        Series("semaphore_wait_ms", "its wait during the semaphore's gather", "ms"),
        Series("gather_peak", "connections held at once, gather", "count"),
        Series("batched_peak", "connections held at once, IN query", "count"),
        Series("semaphore_peak", "connections held at once, semaphore", "count"),
    ),
    checks=(
        AtLeast(
            "gather_peak",
            STARVATION_POOL,
            "count",
            "connections the gather holds",
            "the whole pool",
        ),
        Exceeds(
            "gather_wait_ms",
            "alone_wait_ms",
            "another request's wait: during the gather / alone",
            "it waits for the gather",
        ),
        Exceeds("gather_ms", "batched_ms", "gather / one IN query", "the IN query is faster"),
        Exceeds(
            "gather_wait_ms",
            "semaphore_wait_ms",
            "another request's wait: gather / semaphore",
            "the semaphore lets it through",
        ),
    ),
)
def gather_starvation(ctx: Context) -> Sample:
    """100 gathered sessions starve a pool of 20; one IN query or a semaphore fixes it.

    Pool 20, no overflow, SQLAlchemy's default 30 s ``pool_timeout`` (nothing times out
    at these query times: the trap shows as time). The work: the order summary for 100
    orders, gathered as 100 tasks with a session each; as one ``WHERE id IN (...)``
    query on one session; and gathered behind an ``asyncio.Semaphore(10)``. Beside each,
    one other request (a primary-key select with its own session) starts just after the
    work, as a concurrent HTTP request would on the same worker, and its wait for a
    connection is timed (also alone). Medians of a few repetitions per round.
    """
    ids = [ctx.order_id(i * 97) for i in range(GATHERED)]
    repeats = ctx.size("repetitions per series", 5, 3)

    async def main() -> dict[str, float]:
        engine = ctx.async_engine(pool_size=STARVATION_POOL, max_overflow=0)
        sessions = async_sessionmaker(engine)
        peak = _PeakCheckout(engine)

        async def summary(order_id: int, gate: asyncio.Semaphore | None = None) -> None:
            async with gate or contextlib.nullcontext(), sessions() as session:
                (await session.execute(queries.order_summary(order_id))).one()

        async def gather() -> None:
            await asyncio.gather(*(summary(i) for i in ids))

        async def batched() -> None:
            async with sessions() as session:
                (await session.execute(queries.order_summaries(ids))).all()

        async def semaphore() -> None:
            gate = asyncio.Semaphore(SEMAPHORE)
            await asyncio.gather(*(summary(i, gate) for i in ids))

        values: dict[str, list[float]] = {}
        try:
            await gather()  # opens the pool's 20 connections: connecting is not the point
            for _ in range(repeats):
                for name, work in ctx.rotated(
                    [("gather", gather), ("batched", batched), ("semaphore", semaphore)]
                ):
                    peak.reset()
                    took, waited = await _with_bystander(sessions, work(), peak)
                    values.setdefault(f"{name}_ms", []).append(took)
                    values.setdefault(f"{name}_wait_ms", []).append(waited)
                    values.setdefault(f"{name}_peak", []).append(peak.peak)
                _, alone = await _with_bystander(sessions, asyncio.sleep(0), peak)
                values.setdefault("alone_wait_ms", []).append(alone)
        finally:
            await engine.dispose()
        return {key: statistics.median(series) for key, series in values.items()}

    return Sample(run_loop(main))


# --- blocking the event loop ----------------------------------------------------------------

BLOCK_MS = 100
REQUESTS = 10


@claim(
    "trap-blocking",
    article="A blocking call inside async def stalls every other request on that worker.",
    source="article 1",
    series=(
        Series("calm_ms", "others' slowest query, nothing blocks", "ms"),
        Series("blocked_ms", "others' slowest query, one blocking call", "ms"),
        Series("threaded_ms", "others' slowest query, the call in a thread", "ms"),
        Series("stalled", f"requests stalled by the blocking call (of {REQUESTS})", "count"),
        Series("stall_share", "others' slowest query / the blocking call", "x"),
    ),
    checks=(
        AtLeast("stalled", REQUESTS, "count", "requests stalled", "every other request"),
        AtLeast("stall_share", 0.9, "x", "the stall / the blocking call", "all of it"),
        Exceeds(
            "blocked_ms",
            "threaded_ms",
            "blocking / in a thread",
            "asyncio.to_thread removes the stall",
        ),
    ),
)
def blocking(ctx: Context) -> Sample:
    """A blocking call in async code stalls every other request on the event loop.

    Ten concurrent "requests" on one asyncio loop each run async primary-key selects in
    a loop (async SQLAlchemy, pool of 10) and record every query's latency. In the
    middle of the window an eleventh runs a 100 ms database call through sync SQLAlchemy
    and psycopg2 (``SELECT pg_sleep(0.1)``) directly in ``async def`` (the
    ``fastapi:blocking`` anti-pattern); then the same call with
    ``await asyncio.to_thread(...)``; and a window with no such call. A request counts
    as stalled when its slowest query took at least 90% of the blocking call.
    """
    window_ms = ctx.size("window per series, ms", 600, 200)
    sync_engine = ctx.sync_engine(pool_size=1)

    def block() -> None:
        with sync_engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": BLOCK_MS / 1000})

    async def main() -> dict[str, float]:
        engine = ctx.async_engine(pool_size=REQUESTS, max_overflow=0)
        sessions = async_sessionmaker(engine)

        async def request(n: int, until: float) -> float:
            slowest, i = 0.0, n
            async with sessions() as session:
                while time.perf_counter() < until:
                    started = time.perf_counter()
                    (await session.execute(queries.user_by_id(ctx.user_id(i)))).one()
                    slowest, i = max(slowest, elapsed_ms(started)), i + REQUESTS
            return slowest

        async def window(intruder: Callable[[], Awaitable[None]] | None) -> list[float]:
            until = time.perf_counter() + window_ms / 1000
            others = [asyncio.ensure_future(request(n, until)) for n in range(REQUESTS)]
            await asyncio.sleep(window_ms / 3000)
            if intruder is not None:
                await intruder()
            return list(await asyncio.gather(*others))

        async def blocked() -> None:
            block()  # the anti-pattern: no await, the loop stops here

        async def threaded() -> None:
            await asyncio.to_thread(block)

        try:
            await window(None)  # connect the pool and warm up
            slowest = {
                key: await window(intruder)
                for key, intruder in ctx.rotated(
                    [("calm_ms", None), ("blocked_ms", blocked), ("threaded_ms", threaded)]
                )
            }
        finally:
            await engine.dispose()
        stalled = [s for s in slowest["blocked_ms"] if s >= 0.9 * BLOCK_MS]
        return {
            **{key: max(values) for key, values in slowest.items()},
            "stalled": float(len(stalled)),
            "stall_share": max(slowest["blocked_ms"]) / BLOCK_MS,
        }

    block()  # connect outside the windows
    try:
        return Sample(run_loop(main))
    finally:
        sync_engine.dispose()


# --- PgBouncer in transaction mode ----------------------------------------------------------

BOUNCER_CLIENTS = 4
# asyncpg's cache, and SQLAlchemy's own cache of prepared statements in front of it
CACHES_OFF = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


async def _asyncpg_errors(
    ctx: Context, url: str, per_client: int, caches: bool
) -> tuple[int, str | None]:
    """Failures of BOUNCER_CLIENTS connections running one-query transactions at once."""
    engine = create_async_engine(
        async_url(url),
        pool_size=BOUNCER_CLIENTS,
        max_overflow=0,
        connect_args={} if caches else CACHES_OFF,
    )
    sessions = async_sessionmaker(engine)
    errors: list[str] = []

    async def client(n: int) -> None:
        for i in range(per_client):
            try:
                async with sessions() as session:
                    (
                        await session.execute(queries.user_by_id(ctx.user_id(n * per_client + i)))
                    ).one()
            except Exception as exc:  # every failure is what is being counted
                errors.append(one_line(exc))

    try:
        await asyncio.gather(*(client(n) for n in range(BOUNCER_CLIENTS)))
    finally:
        await engine.dispose()
    return len(errors), errors[0] if errors else None


def _psycopg2_errors(ctx: Context, url: str, count: int) -> int:
    engine = create_engine(sync_url(url), pool_size=1)
    errors = 0
    try:
        for i in range(count):
            try:
                with Session(engine) as session:
                    session.execute(queries.user_by_id(ctx.user_id(i))).one()
            except Exception:  # counted, as for asyncpg
                errors += 1
    finally:
        engine.dispose()
    return errors


@claim(
    "trap-pgbouncer",
    article="Prepared statements behind a transaction-pooling PgBouncer fail.",
    source="article 1",
    series=(
        Series("cached_errors", "asyncpg, statement caches on (default): failures", "count"),
        Series("uncached_errors", "asyncpg, statement caches off: failures", "count"),
        Series("psycopg2_errors", "psycopg2: failures", "count"),
    ),
    checks=(
        Happens("cached_errors", "asyncpg with its defaults", "prepared statements fail", "count"),
        Happens("uncached_errors", "caches off", "no failure", "count", never=True),
        Happens("psycopg2_errors", "psycopg2", "no failure", "count", never=True),
    ),
    rounds=1,
    requires="pgbouncer",
)
def pgbouncer_prepared(ctx: Context) -> Sample:
    """Prepared statements fail behind a PgBouncer in transaction pooling mode.

    The suite's own PgBouncer (``loadtests/infra/pgbouncer.py``) in transaction mode
    with 2 server connections, in front of the scratch database; 4 async SQLAlchemy
    connections run one-query transactions at the same time, so each transaction may
    land on another server connection than the one that prepared its statement. First
    with asyncpg's defaults, then with both statement caches off (asyncpg's and
    SQLAlchemy's, as the FastAPI service's ``DB_STATEMENT_CACHE=off`` does), then
    psycopg2, which prepares nothing. PgBouncer 1.21+ can track prepared statements
    (``max_prepared_statements``, which the suite sets when available); the version in
    use is shown. Behaviour: one round.
    """
    url = ctx.extra["pgbouncer_url"]
    per_client = ctx.size("transactions per client", 50, 20)

    async def main() -> tuple[tuple[int, str | None], tuple[int, str | None]]:
        return (
            await _asyncpg_errors(ctx, url, per_client, caches=True),
            await _asyncpg_errors(ctx, url, per_client, caches=False),
        )

    (cached, first), (uncached, other) = run_loop(main)
    sent = per_client * BOUNCER_CLIENTS
    values = {
        "cached_errors": float(cached),
        "uncached_errors": float(uncached),
        "psycopg2_errors": float(_psycopg2_errors(ctx, url, sent)),
    }
    evidence = {
        "PgBouncer": ctx.extra.get("pgbouncer", "?"),
        "transactions": f"{sent} per series, {BOUNCER_CLIENTS} clients at once",
        "the first failure": first or "none",
    }
    if other:
        evidence["with the caches off"] = other
    return Sample(values, evidence)
