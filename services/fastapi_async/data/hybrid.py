"""``DATA_ACCESS=hybrid``: the ORM for writes, raw asyncpg for reads (the second article's
recommendation). Two pools share one connection budget per worker: ``DB_WRITE_POOL_SIZE``
connections for the ORM (default a quarter), the rest for raw reads. A request opens
only the side it uses, when it first uses it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

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
from services.fastapi_async.data.orm import OrmBackend, OrmDataAccess
from services.fastapi_async.data.raw import RawBackend, RawDataAccess


class HybridBackend:
    def __init__(self, settings: ServiceSettings) -> None:
        writes, reads = settings.hybrid_split
        self.writes = OrmBackend(settings, writes)
        self.reads = RawBackend(settings, reads)

    async def start(self) -> None:
        await self.reads.start()

    @asynccontextmanager
    async def access(self) -> AsyncIterator[HybridDataAccess]:
        async with AsyncExitStack() as stack:
            yield HybridDataAccess(self, stack)

    async def close(self) -> None:
        await self.reads.close()
        await self.writes.close()


class HybridDataAccess:
    def __init__(self, backend: HybridBackend, stack: AsyncExitStack) -> None:
        self.backend = backend
        self.stack = stack
        self._reads: RawDataAccess | None = None
        self._writes: OrmDataAccess | None = None

    async def reads(self) -> RawDataAccess:
        if self._reads is None:
            self._reads = await self.stack.enter_async_context(self.backend.reads.access())
        return self._reads

    async def writes(self) -> OrmDataAccess:
        if self._writes is None:
            self._writes = await self.stack.enter_async_context(self.backend.writes.access())
        return self._writes

    async def get_user(self, user_id: int) -> UserOut | None:
        return await (await self.reads()).get_user(user_id)

    async def rename_user(self, user_id: int, name: str) -> UserOut | None:
        return await (await self.writes()).rename_user(user_id, name)

    async def list_users(self, query: UserListQuery) -> UserPage:
        return await (await self.reads()).list_users(query)

    async def get_order(self, order_id: int) -> OrderOut | None:
        return await (await self.reads()).get_order(order_id)

    async def list_orders(self, query: OrderListQuery) -> OrderPage:
        return await (await self.reads()).list_orders(query)

    async def order_summary(self, order_id: int) -> OrderSummaryOut | None:
        return await (await self.reads()).order_summary(order_id)

    async def create_order(self, payload: OrderCreate) -> OrderOut:
        return await (await self.writes()).create_order(payload)
