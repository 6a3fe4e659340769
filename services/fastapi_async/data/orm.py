"""``DATA_ACCESS=orm``: async SQLAlchemy ORM over asyncpg, every relation eager-loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from services.common import queries
from services.common.engine import SESSION_OPTIONS, pool_options
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
from services.common.urls import async_url


def connect_args(settings: ServiceSettings) -> dict[str, Any]:
    args: dict[str, Any] = {"timeout": settings.connect_timeout}
    if settings.statement_cache is StatementCache.off:
        # Behind a transaction-mode PgBouncer that does not track prepared statements,
        # named statements break. Size 0 on both caches makes asyncpg use unnamed ones
        # (SQLAlchemy's cache, then asyncpg's own).
        args |= {"prepared_statement_cache_size": 0, "statement_cache_size": 0}
    return args


class OrmBackend:
    def __init__(self, settings: ServiceSettings) -> None:
        self.engine = create_async_engine(
            async_url(settings.database_url),
            connect_args=connect_args(settings),
            **pool_options(settings),
        )
        self.sessions = async_sessionmaker(self.engine, **SESSION_OPTIONS)

    @asynccontextmanager
    async def access(self) -> AsyncIterator[OrmDataAccess]:
        async with self.sessions() as session:
            yield OrmDataAccess(session)

    async def close(self) -> None:
        await self.engine.dispose()


class OrmDataAccess:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_user(self, user_id: int) -> UserOut | None:
        user = (await self.session.scalars(queries.user_by_id(user_id))).one_or_none()
        return UserOut.model_validate(user) if user else None

    async def rename_user(self, user_id: int, name: str) -> UserOut | None:
        user = (await self.session.scalars(queries.user_by_id(user_id))).one_or_none()
        if user is None:
            return None
        user.name = name
        await self.session.commit()
        return UserOut.model_validate(user)

    async def list_users(self, query: UserListQuery) -> UserPage:
        users = (await self.session.scalars(queries.users_page(query))).all()
        next_after = users[-1].id if len(users) == query.limit else None
        return UserPage(items=users, next_after_id=next_after)

    async def get_order(self, order_id: int) -> OrderOut | None:
        order = (await self.session.scalars(queries.order_detail(order_id))).one_or_none()
        return OrderOut.model_validate(order) if order else None

    async def list_orders(self, query: OrderListQuery) -> OrderPage:
        orders = (await self.session.scalars(queries.orders_page(query))).all()
        return OrderPage(items=orders)

    async def order_summary(self, order_id: int) -> OrderSummaryOut | None:
        row = (await self.session.execute(queries.order_summary(order_id))).one_or_none()
        return OrderSummaryOut.model_validate(row._mapping) if row else None

    async def create_order(self, payload: OrderCreate) -> OrderOut:
        session = self.session
        customer_query = queries.customer_by_id(payload.customer_id)
        customer = (await session.scalars(customer_query)).one_or_none()
        product_ids = {item.product_id for item in payload.items}
        products = (await session.scalars(queries.products_by_ids(product_ids))).all()
        order = build_order(payload, customer, products)
        session.add(order)
        await session.commit()
        return OrderOut.model_validate(order)
