"""The FastAPI application factory; the lifespan owns the engine and disposes of it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.common import edges
from services.common.settings import JsonEncoder, ServiceSettings, get_settings
from services.fastapi_async import errors
from services.fastapi_async.data import create_backend
from services.fastapi_async.external import external_call
from services.fastapi_async.responses import response_class
from services.fastapi_async.routers import ROUTERS
from services.fastapi_async.timing import ServerTiming


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        backend = create_backend(settings)
        await backend.start()
        try:
            # request.state.backend, .external_call and .cpu_burn_s
            yield {
                "backend": backend,
                "external_call": external_call(settings),
                "cpu_burn_s": settings.cpu_burn_ms / 1000,
            }
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
        redirect_slashes=edges.REDIRECT_SLASHES,
        # The contract's routes only, as on Flask; the document is create_app().openapi().
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        **options,
    )
    errors.install(app, settings.json_encoder)
    for router in ROUTERS:
        app.include_router(router)
    if settings.server_timing:
        app.add_middleware(ServerTiming)
    return app
