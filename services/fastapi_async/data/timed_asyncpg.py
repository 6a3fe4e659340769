"""asyncpg connections whose round trips count as ``db`` time (services/common/timing.py).

Every round trip of an asyncpg connection goes through its protocol object: simple
queries (BEGIN, COMMIT, the pool's reset), preparing a statement, and binding and
executing one (SQLAlchemy's adapter calls ``PreparedStatement.fetch``, which calls the
protocol, not the connection). asyncpg lets a pool or SQLAlchemy use a subclass of its
``Connection`` (``connection_class``); this one wraps the protocol it is given.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, cast

import asyncpg
from asyncpg.protocol.protocol import BaseProtocol

from services.common.timing import add_driver_time, current

# The protocol's coroutines that send to the server and wait for its answer.
ROUND_TRIPS = ("query", "prepare", "bind_execute", "bind_execute_many", "bind", "execute")


def _round_trip(name: str) -> Any:
    """The real protocol's coroutine ``name``, its wall time added as ``db``. Written
    out rather than as a ``DriverCall`` block: it runs several times a request, and the
    cost of timing is part of what the suite measures (at most 3% of throughput)."""

    async def timed(self: _TimedProtocol, *args: Any, **kwargs: Any) -> Any:
        timing = current.get()
        start = perf_counter()
        try:
            return await self._calls[name](*args, **kwargs)
        finally:
            if timing is not None:
                add_driver_time(timing, perf_counter() - start)

    timed.__name__ = name
    return timed


class _TimedProtocol:
    """The real protocol, with its round-trip coroutines timed; everything else passes
    through. asyncpg asks its protocol for ``is_connected`` and the like about ten times
    a request: the first lookup of a method keeps the bound method on the proxy, so the
    rest find it without falling back to ``__getattr__``."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._calls = {name: getattr(real, name) for name in ROUND_TRIPS}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._real, name)
        if callable(value):  # a bound method stays valid; plain values may change
            setattr(self, name, value)
        return value

    locals().update({name: _round_trip(name) for name in ROUND_TRIPS})


class TimedConnection(asyncpg.Connection):
    __slots__ = ()

    def __init__(self, protocol: BaseProtocol[asyncpg.Record], *args: Any, **kwargs: Any) -> None:
        # The stubs ask for the protocol's class; asyncpg only uses its attributes, and
        # the proxy has them all.
        timed = cast("BaseProtocol[asyncpg.Record]", _TimedProtocol(protocol))
        super().__init__(timed, *args, **kwargs)
