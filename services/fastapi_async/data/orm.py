"""``DATA_ACCESS=orm``: async SQLAlchemy ORM over asyncpg, every relation eager-loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from services.common import queries
from services.common.deadline import LoopWatch
from services.common.engine import SESSION_OPTIONS, guard, pool_options
from services.common.liveness import check_on_checkout
from services.common.orders import build_order
from services.common.schemas import (
    OrderCreate,
    OrderListQuery,
    OrderOut,
    OrderPage,
    OrderSummaryOut,
    UserListQuery,
    UserOut,
    UserPage,
)
from services.common.settings import ServiceSettings, StatementCache
from services.common.timing import OrmCall, TimedAsyncQueuePool
from services.common.urls import async_url
from services.fastapi_async.data.gate import gate_for
from services.fastapi_async.data.timed_asyncpg import TimedConnection


def asyncpg_connect_args(settings: ServiceSettings) -> dict[str, Any]:
    """asyncpg's own connect arguments (shared with the raw mode's pool)."""
    args: dict[str, Any] = {"timeout": settings.connect_limit}
    if settings.server_timing:
        args["connection_class"] = TimedConnection
    if settings.statement_cache is StatementCache.off:
        # Behind a transaction-mode PgBouncer that does not track prepared statements,
        # named statements break: asyncpg then uses unnamed ones.
        args["statement_cache_size"] = 0
    return args


def connect_args(settings: ServiceSettings) -> dict[str, Any]:
    args = asyncpg_connect_args(settings)
    if settings.statement_cache is StatementCache.off:
        args["prepared_statement_cache_size"] = 0  # SQLAlchemy's cache in front of asyncpg's
    return args


class OrmBackend:
    def __init__(self, settings: ServiceSettings, connections: int | None = None) -> None:
        """``connections``: this pool's share of the budget (hybrid); default all of it."""
        timed = {"poolclass": TimedAsyncQueuePool} if settings.server_timing else {}
        self.engine = create_async_engine(
            async_url(settings.database_url),
            connect_args=connect_args(settings),
            **pool_options(settings, connections),
            **timed,
        )
        guard(self.engine.sync_engine, settings, LoopWatch)
        if settings.reconnect:
            check_on_checkout(self.engine.sync_engine)
        self.sessions = async_sessionmaker(self.engine, **SESSION_OPTIONS)
        self.gate = gate_for(settings, connections or settings.connections_per_worker)

    async def start(self) -> None:
        pass  # the pool opens connections on first use

    @asynccontextmanager
    async def access(self) -> AsyncIterator[OrmDataAccess]:
        async with self.gate.hold(), self.sessions() as session:
            yield OrmDataAccess(session)

    async def close(self) -> None:
        await self.engine.dispose()


class OrmDataAccess:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # Each session call, with the objects it loads, is ORM time (services/common/timing.py).

    async def _one(self, statement: Executable) -> Any:
        with OrmCall():
            return (await self.session.scalars(statement)).one_or_none()

    async def _all(self, statement: Executable) -> Any:
        with OrmCall():
            return (await self.session.scalars(statement)).all()

    async def _row(self, statement: Executable) -> Any:
        with OrmCall():
            return (await self.session.execute(statement)).one_or_none()

    async def _commit(self) -> None:
        with OrmCall():
            await self.session.commit()

    async def get_user(self, user_id: int) -> UserOut | None:
        user = await self._one(queries.user_by_id(user_id))
        return UserOut.model_validate(user) if user else None

    async def rename_user(self, user_id: int, name: str) -> UserOut | None:
        user = await self._one(queries.user_by_id(user_id))
        if user is None:
            return None
        user.name = name
        await self._commit()
        return UserOut.model_validate(user)

    async def list_users(self, query: UserListQuery) -> UserPage:
        users = await self._all(queries.users_page(query))
        next_after = users[-1].id if len(users) == query.limit else None
        return UserPage(items=users, next_after_id=next_after)

    async def get_order(self, order_id: int) -> OrderOut | None:
        order = await self._one(queries.order_detail(order_id))
        return OrderOut.model_validate(order) if order else None

    async def list_orders(self, query: OrderListQuery) -> OrderPage:
        return OrderPage(items=await self._all(queries.orders_page(query)))

    async def order_summary(self, order_id: int) -> OrderSummaryOut | None:
        row = await self._row(queries.order_summary(order_id))
        return OrderSummaryOut.model_validate(row._mapping) if row else None

    async def create_order(self, payload: OrderCreate) -> OrderOut:
        customer = await self._one(queries.customer_by_id(payload.customer_id))
        products = await self._all(
            queries.products_by_ids({item.product_id for item in payload.items})
        )
        order = build_order(payload, customer, products)
        self.session.add(order)
        await self._commit()
        return OrderOut.model_validate(order)
