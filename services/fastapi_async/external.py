"""``EXTERNAL_CALL_MS``: a simulated call to another service (an HTTP API, a cache) before
each database request's work, made the way the data-access mode makes calls. Awaited,
it lets the event loop serve others meanwhile; in ``def`` endpoints it holds a worker
thread; in the blocking anti-pattern it stops the event loop, as a blocking client
would. Off (0) by default; reports list it among the settings when a variant sets it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial

from starlette.concurrency import run_in_threadpool

from services.common.settings import DataAccessMode, ServiceSettings


async def _awaited(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def _in_thread(seconds: float) -> None:
    await run_in_threadpool(time.sleep, seconds)


async def _blocking(seconds: float) -> None:
    time.sleep(seconds)


CALLS: dict[DataAccessMode, Callable[[float], Awaitable[None]]] = {
    DataAccessMode.orm: _awaited,
    DataAccessMode.raw: _awaited,
    DataAccessMode.hybrid: _awaited,
    DataAccessMode.sync_def: _in_thread,
    DataAccessMode.blocking: _blocking,
}


def external_call(settings: ServiceSettings) -> Callable[[], Awaitable[None]] | None:
    if not settings.external_call_ms:
        return None
    return partial(CALLS[settings.data_access], settings.external_call_ms / 1000)
