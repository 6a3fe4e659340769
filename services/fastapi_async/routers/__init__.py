"""One router per resource."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.routing import APIRoute

from services.common.edges import implied_methods
from services.fastapi_async.routers import health, orders, users


def declared_methods(route: APIRoute) -> set[str]:
    """The methods ``route`` answers. FastAPI always sets them (GET when none are given);
    the ``None`` its type allows is Starlette's, for a route that takes every method."""
    assert route.methods is not None
    return route.methods


def _answer_implied_methods(router: APIRouter) -> APIRouter:
    """A HEAD twin of every GET route (services/common/edges.py), as Werkzeug adds HEAD
    to every GET rule. The twins come after the declared routes, so a GET matches exactly
    as before, and stay out of the OpenAPI document."""
    for route in list(router.routes):
        if not isinstance(route, APIRoute):
            continue
        methods = declared_methods(route)
        extra = implied_methods(methods) - methods
        if extra:
            router.add_api_route(
                route.path.removeprefix(router.prefix),
                route.endpoint,
                methods=sorted(extra),
                response_model=route.response_model,
                status_code=route.status_code,
                response_class=route.response_class,
                name=route.name,
                include_in_schema=False,
            )
    return router


ROUTERS = tuple(_answer_implied_methods(module.router) for module in (health, users, orders))


def api_routes() -> Iterator[APIRoute]:
    """Every route of the service, twins included (for the ``Allow`` header of a 405)."""
    for router in ROUTERS:
        yield from (route for route in router.routes if isinstance(route, APIRoute))
