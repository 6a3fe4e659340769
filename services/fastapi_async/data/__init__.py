"""Data-access modes, chosen by one setting (``DATA_ACCESS``).

Routers depend only on the ``DataAccess`` protocol. A mode is a small module with a
``Backend`` that owns its engine or pool for the app's lifetime and hands out one
``DataAccess`` per request:

* ``orm``: async SQLAlchemy ORM over asyncpg (the default);
* ``raw``: an asyncpg pool and the hand-written SQL of ``services/common/sql.py``;
* ``hybrid``: the ORM for writes, raw asyncpg for reads, one connection budget split;
* ``sync-def``: sync SQLAlchemy + psycopg2 in AnyIO's worker threads, as FastAPI runs
  ``def`` endpoints;
* ``blocking``: sync SQLAlchemy called straight from ``async def`` endpoints. This is the
  anti-pattern the articles warn about (each query stops the event loop), kept on purpose
  so that its cost can be measured.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from importlib import import_module
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
    async def start(self) -> None:
        """Open what needs the running event loop (asyncpg's pool)."""
        ...

    def access(self) -> AbstractAsyncContextManager[DataAccess]:
        """One request's data access (for the ORM: one AsyncSession)."""
        ...

    async def close(self) -> None: ...


# mode -> "module:Backend class"; modules are imported only when their mode runs.
BACKENDS: dict[DataAccessMode, str] = {
    DataAccessMode.orm: "orm:OrmBackend",
    DataAccessMode.raw: "raw:RawBackend",
    DataAccessMode.hybrid: "hybrid:HybridBackend",
    DataAccessMode.sync_def: "sync_def:SyncDefBackend",
    DataAccessMode.blocking: "blocking:BlockingBackend",
}


def create_backend(settings: ServiceSettings) -> Backend:
    module, name = BACKENDS[settings.data_access].split(":")
    factory: Callable[[ServiceSettings], Backend] = getattr(
        import_module(f"{__name__}.{module}"), name
    )
    return factory(settings)
