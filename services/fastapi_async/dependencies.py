"""Request dependencies: the data access of the configured mode, one per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Path, Request

from services.common.burn import burn
from services.common.errors import not_found
from services.common.schemas import PG_INT_MAX
from services.fastapi_async.data import Backend, DataAccess


async def get_data(request: Request) -> AsyncIterator[DataAccess]:
    backend: Backend = request.state.backend
    if request.state.cpu_burn_s:  # CPU_BURN_MS
        burn(request.state.cpu_burn_s)
    if request.state.external_call is not None:  # EXTERNAL_CALL_MS, before any connection
        await request.state.external_call()
    async with backend.access() as data:
        yield data


# scope="function": the session closes (and its connection returns to the pool) when the
# endpoint returns, before the response is sent, which is when Flask's teardown closes
# its session too. The default would hold the connection while the body is written.
DataDep = Annotated[DataAccess, Depends(get_data, scope="function")]
UserId = Annotated[int, Path(ge=1, le=PG_INT_MAX)]
OrderId = Annotated[int, Path(ge=1, le=PG_INT_MAX)]

T = TypeVar("T")


def found(value: T | None, what: str, ident: int) -> T:
    """``value``, or a 404 naming what was not found."""
    if value is None:
        raise HTTPException(404, not_found(what, ident))
    return value
