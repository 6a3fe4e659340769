"""Data-access modes, chosen by one setting (``DATA_ACCESS``).

Routers depend only on the ``DataAccess`` protocol. A mode is a small module with a
``Backend`` that owns its engine or pool for the app's lifetime and hands out one
``DataAccess`` per request; adding a mode (raw asyncpg reads, a hybrid, sync SQLAlchemy
in a thread pool) means adding a module and a line to ``BACKENDS``, not copying the app.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

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
from services.common.settings import DataAccessMode, ServiceSettings


class DataAccess(Protocol):
    async def get_user(self, user_id: int) -> UserOut | None: ...
    async def rename_user(self, user_id: int, name: str) -> UserOut | None: ...
    async def list_users(self, query: UserListQuery) -> UserPage: ...
    async def get_order(self, order_id: int) -> OrderOut | None: ...
    async def list_orders(self, query: OrderListQuery) -> OrderPage: ...
    async def order_summary(self, order_id: int) -> OrderSummaryOut | None: ...
    async def create_order(self, payload: OrderCreate) -> OrderOut: ...


class Backend(Protocol):
    def access(self) -> AbstractAsyncContextManager[DataAccess]:
        """One request's data access (for the ORM: one AsyncSession)."""
        ...

    async def close(self) -> None: ...


def _orm(settings: ServiceSettings) -> Backend:
    from services.fastapi_async.data.orm import OrmBackend

    return OrmBackend(settings)


BACKENDS: dict[DataAccessMode, Callable[[ServiceSettings], Backend]] = {
    DataAccessMode.orm: _orm,
}


def create_backend(settings: ServiceSettings) -> Backend:
    return BACKENDS[settings.data_access](settings)
