"""JSON response classes rendered by the shared encoder the settings chose, and the
error responses each endpoint documents in the OpenAPI document."""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.responses import JSONResponse

from services.common.schemas import ErrorOut, InvalidInputOut
from services.common.serialization import JSON_MEDIA_TYPE, dumps
from services.common.settings import JsonEncoder


@cache
def response_class(encoder: JsonEncoder) -> type[JSONResponse]:
    """A JSONResponse whose bodies come from ``encoder``."""

    class SharedJSONResponse(JSONResponse):
        media_type = JSON_MEDIA_TYPE

        def render(self, content: Any) -> bytes:
            return dumps(content, encoder)

    SharedJSONResponse.__name__ = f"{encoder.value.title()}JSONResponse"
    return SharedJSONResponse


_ERRORS: dict[int, tuple[type[Any], str]] = {
    404: (ErrorOut, "No such row"),
    422: (InvalidInputOut, "Invalid path, query or body"),
    503: (ErrorOut, "Database unavailable or connection pool exhausted"),
}
# Every endpoint that touches the database can answer 422 and 503.
DATABASE_ERRORS = (422, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for an endpoint: the error statuses it answers, with their bodies."""
    return {
        status: {"model": _ERRORS[status][0], "description": _ERRORS[status][1]}
        for status in sorted(statuses)
    }
