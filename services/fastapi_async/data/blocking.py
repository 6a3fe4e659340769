"""``DATA_ACCESS=blocking``: THE ANTI-PATTERN, kept on purpose. ``async def`` endpoints call
sync SQLAlchemy + psycopg2 directly, so every query stops the worker's event loop: no
other request on that worker makes progress until the database answers. It exists so
that the suite can measure what the articles warn about; never copy it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.common.engine import sync_engine, sync_sessions
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
from services.common.settings import ServiceSettings
from services.common.sync_access import SyncOrmAccess


class BlockingBackend:
    def __init__(self, settings: ServiceSettings) -> None:
        self.engine = sync_engine(settings)
        self.sessions = sync_sessions(self.engine)
        self.reconnect = settings.reconnect

    async def start(self) -> None:
        pass

    @asynccontextmanager
    async def access(self) -> AsyncIterator[BlockingDataAccess]:
        with self.sessions() as session:  # blocks the loop on close, too
            yield BlockingDataAccess(SyncOrmAccess(session, self.reconnect))

    async def close(self) -> None:
        self.engine.dispose()


class BlockingDataAccess:
    def __init__(self, data: SyncOrmAccess) -> None:
        self.data = data

    async def get_user(self, user_id: int) -> UserOut | None:
        return self.data.get_user(user_id)

    async def rename_user(self, user_id: int, name: str) -> UserOut | None:
        return self.data.rename_user(user_id, name)

    async def list_users(self, query: UserListQuery) -> UserPage:
        return self.data.list_users(query)

    async def get_order(self, order_id: int) -> OrderOut | None:
        return self.data.get_order(order_id)

    async def list_orders(self, query: OrderListQuery) -> OrderPage:
        return self.data.list_orders(query)

    async def order_summary(self, order_id: int) -> OrderSummaryOut | None:
        return self.data.order_summary(order_id)

    async def create_order(self, payload: OrderCreate) -> OrderOut:
        return self.data.create_order(payload)
