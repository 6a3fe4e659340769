"""JSON response classes rendered by the shared encoder the settings chose."""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.responses import JSONResponse

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
