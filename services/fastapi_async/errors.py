"""Exception handlers with the contract's bodies (see services/common/errors.py)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from services.common.edges import FASTAPI_BODY_PARSE_STATUS, allow_header
from services.common.errors import (
    INTERNAL_ERROR,
    InvalidInput,
    PoolExhausted,
    database_error_detail,
    error_entries,
    log_unhandled,
    malformed_json,
)
from services.common.settings import JsonEncoder
from services.fastapi_async.responses import response_class
from services.fastapi_async.routers import api_routes, declared_methods

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

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == FASTAPI_BODY_PARSE_STATUS:
            return json({"detail": malformed_json().errors}, status_code=422)
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": allow_header(_methods_at(request))}
        return json({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

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
    for database_failure in (sa_exc.SQLAlchemyError, OSError, PoolExhausted, *asyncpg_errors()):
        app.add_exception_handler(database_failure, database_error)
    app.add_exception_handler(Exception, unexpected)


def _methods_at(request: Request) -> set[str]:
    """Every method some route answers at the request's path (Starlette's own 405 lists
    only the first matching route's)."""
    methods: set[str] = set()
    for route in api_routes():
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= declared_methods(route)
    return methods
