"""The FastAPI application factory; the lifespan owns the engine and disposes of it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.common.settings import JsonEncoder, ServiceSettings, get_settings
from services.fastapi_async import errors
from services.fastapi_async.data import create_backend
from services.fastapi_async.responses import response_class
from services.fastapi_async.routers import health, orders, users


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        backend = create_backend(settings)
        try:
            yield {"backend": backend}  # request.state.backend
        finally:
            await backend.close()

    logging.basicConfig(level=logging.WARNING)
    options: dict[str, Any] = {}
    if settings.json_encoder is JsonEncoder.orjson:
        # Any response class other than the default leaves FastAPI's native path, where
        # pydantic-core writes the JSON bytes; only the orjson setting needs that.
        options["default_response_class"] = response_class(settings.json_encoder)
    app = FastAPI(
        title="loadtests: FastAPI + async SQLAlchemy",
        lifespan=lifespan,
        # Flask answers /users/ with 404 rather than a redirect; so does this service.
        redirect_slashes=False,
        **options,
    )
    errors.install(app, settings.json_encoder)
    app.include_router(health.router)
    app.include_router(users.router)
    app.include_router(orders.router)
    return app
