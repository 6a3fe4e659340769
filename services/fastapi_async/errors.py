"""Exception handlers with the contract's bodies (see services/common/errors.py)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import Response

from services.common.errors import (
    INTERNAL_ERROR,
    InvalidInput,
    database_error_detail,
    error_entries,
    log_unhandled,
)
from services.common.settings import JsonEncoder
from services.fastapi_async.responses import response_class

log = logging.getLogger(__name__)


def asyncpg_errors() -> tuple[type[Exception], ...]:
    """asyncpg raises these unwrapped when a connection cannot be opened."""
    import asyncpg

    return (asyncpg.PostgresError, asyncpg.InterfaceError)


def install(app: FastAPI, encoder: JsonEncoder) -> None:
    json = response_class(encoder)

    async def request_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return json({"detail": error_entries(exc.errors())}, status_code=422)

    async def invalid_input(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidInput)
        return json({"detail": exc.errors}, status_code=422)

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return json({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def database_error(_: Request, exc: Exception) -> Response:
        detail = database_error_detail(exc)
        if detail is None:
            log_unhandled(log, exc)
            return json({"detail": INTERNAL_ERROR}, status_code=500)
        log.warning("database error: %s", exc.__class__.__name__)
        return json({"detail": detail}, status_code=503)

    async def unexpected(_: Request, exc: Exception) -> Response:
        log_unhandled(log, exc)
        return json({"detail": INTERNAL_ERROR}, status_code=500)

    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(InvalidInput, invalid_input)
    app.add_exception_handler(HTTPException, http_error)
    # Database failures get handlers of their own: a handler for bare Exception runs in
    # Starlette's ServerErrorMiddleware, which re-raises and logs a traceback per request.
    for database_failure in (sa_exc.SQLAlchemyError, OSError, *asyncpg_errors()):
        app.add_exception_handler(database_failure, database_error)
    app.add_exception_handler(Exception, unexpected)
