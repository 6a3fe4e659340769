"""``DATA_ACCESS=sync-def``: sync SQLAlchemy + psycopg2, run in AnyIO's worker threads the
way FastAPI runs ``def`` endpoints.

A ``def`` endpoint whose Session comes from a ``def`` generator dependency costs three
thread hops per request: the dependency is entered in the thread pool, the endpoint runs
in the thread pool, and the dependency's exit runs on a limiter of its own
(``fastapi.concurrency.contextmanager_in_threadpool``). This mode makes the same hops.
The thread pool's size is ``WEB_THREADS``, by default the connection pool's size: with
AnyIO's default of 40 threads against a pool of 20, half the threads would block on the
pool while holding a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

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

P = ParamSpec("P")
T = TypeVar("T")


class SyncDefBackend:
    def __init__(self, settings: ServiceSettings) -> None:
        self.engine = sync_engine(settings)
        self.sessions = sync_sessions(self.engine)
        self.reconnect = settings.reconnect
        self.threads = settings.thread_count

    async def start(self) -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads

    @asynccontextmanager
    async def access(self) -> AsyncIterator[SyncDefDataAccess]:
        session = await run_in_threadpool(self.sessions)
        try:
            yield SyncDefDataAccess(SyncOrmAccess(session, self.reconnect))
        finally:
            await anyio.to_thread.run_sync(_close, session, limiter=anyio.CapacityLimiter(1))

    async def close(self) -> None:
        self.engine.dispose()


def _close(session: Session) -> None:
    session.close()


class SyncDefDataAccess:
    """Each call is the body of a ``def`` endpoint: one hop to a worker thread."""

    def __init__(self, data: SyncOrmAccess) -> None:
        self.data = data

    @staticmethod
    async def _in_thread(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await run_in_threadpool(call, *args, **kwargs)

    async def get_user(self, user_id: int) -> UserOut | None:
        return await self._in_thread(self.data.get_user, user_id)

    async def rename_user(self, user_id: int, name: str) -> UserOut | None:
        return await self._in_thread(self.data.rename_user, user_id, name)

    async def list_users(self, query: UserListQuery) -> UserPage:
        return await self._in_thread(self.data.list_users, query)

    async def get_order(self, order_id: int) -> OrderOut | None:
        return await self._in_thread(self.data.get_order, order_id)

    async def list_orders(self, query: OrderListQuery) -> OrderPage:
        return await self._in_thread(self.data.list_orders, query)

    async def order_summary(self, order_id: int) -> OrderSummaryOut | None:
        return await self._in_thread(self.data.order_summary, order_id)

    async def create_order(self, payload: OrderCreate) -> OrderOut:
        return await self._in_thread(self.data.create_order, payload)
