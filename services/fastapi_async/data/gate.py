"""``POOL_QUEUE``: who decides which waiting request gets the next free connection.

SQLAlchemy's async pool (and asyncpg's) wait on an ``asyncio.Queue``. A connection that
is put back wakes the oldest waiter, but the waiter only takes it when it next runs;
a request arriving in between finds the queue non-empty and takes the connection first,
and the woken waiter goes back to the *end* of the line. Under load a few requests can
lose that race again and again and wait for seconds while the median stays low.

The ``fifo`` gate is an ``asyncio.Semaphore`` with one permit per connection, taken
before the session is opened. Python 3.11's semaphore hands a released permit straight
to its longest waiter and makes newcomers queue behind existing waiters, so requests
get connections first come, first served. Its wait is bounded by the pool timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from services.common.errors import PoolExhausted
from services.common.settings import PoolQueue, ServiceSettings
from services.common.timing import PoolWait


class FifoGate:
    def __init__(self, permits: int, timeout: float) -> None:
        self.permits = permits
        self.timeout = timeout
        self._semaphore = asyncio.Semaphore(permits)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        try:
            with PoolWait():  # queueing for a connection, in the gate instead of the pool
                async with asyncio.timeout(self.timeout):
                    await self._semaphore.acquire()
        except TimeoutError:
            raise PoolExhausted from None
        try:
            yield
        finally:
            self._semaphore.release()


class PoolsOwnQueue:
    """No gate: the pool's own queue decides (SQLAlchemy's and asyncpg's default)."""

    def hold(self) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()


Gate = FifoGate | PoolsOwnQueue


def gate_for(settings: ServiceSettings, connections: int) -> Gate:
    """The gate in front of a pool of ``connections``."""
    if settings.pool_queue is PoolQueue.fifo:
        return FifoGate(connections, settings.pool_timeout)
    return PoolsOwnQueue()
