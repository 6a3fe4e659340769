"""JSON responses rendered by the shared encoder the settings chose."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app

from services.common.errors import not_found
from services.common.serialization import JSON_MEDIA_TYPE, dumps
from services.common.settings import JsonEncoder

EXTENSION = "json_encoder"
T = TypeVar("T")


def init_app(app: Flask, encoder: JsonEncoder) -> None:
    app.extensions[EXTENSION] = encoder


def json_response(content: Any, status: int = 200) -> Response:
    body = dumps(content, current_app.extensions[EXTENSION])
    return Response(body, status=status, mimetype=JSON_MEDIA_TYPE)


def found(value: T | None, what: str, ident: int) -> T:
    """``value``, or a 404 naming what was not found."""
    if value is None:
        abort(404, not_found(what, ident))
    return value
