"""JSON responses rendered by the shared encoder the settings chose."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app

from services.common.serialization import JSON_MEDIA_TYPE, dumps
from services.common.settings import JsonEncoder

EXTENSION = "json_encoder"


def init_app(app: Flask, encoder: JsonEncoder) -> None:
    app.extensions[EXTENSION] = encoder


def json_response(content: Any, status: int = 200) -> Response:
    body = dumps(content, current_app.extensions[EXTENSION])
    return Response(body, status=status, mimetype=JSON_MEDIA_TYPE)
