"""JSON error responses with the contract's bodies: never an HTML page, never a 500 for
a client mistake, and 503 when the database is not there."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from services.common.edges import allow_header
from services.common.errors import (
    INTERNAL_ERROR,
    InvalidInput,
    database_error_detail,
    log_unhandled,
)
from services.flask_sync.responses import json_response

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.register_error_handler(InvalidInput, _invalid_input)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _invalid_input(exc: InvalidInput) -> Response:
    return json_response({"detail": exc.errors}, status=422)


def _http_error(exc: HTTPException) -> Response:
    # abort(404, "user 7 not found") carries its own text; routing errors use the name,
    # as Starlette does ("Not Found", "Method Not Allowed").
    own_text = exc.code == 404 and exc.description != NotFound.description
    detail = exc.description if own_text else exc.name
    response = json_response({"detail": detail}, status=exc.code or 500)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if isinstance(exc, MethodNotAllowed):
        response.headers["Allow"] = allow_header(exc.valid_methods or ())
    return response


def _unexpected(exc: Exception) -> Response:
    detail = database_error_detail(exc)
    if detail is not None:
        log.warning("database error: %s", exc.__class__.__name__)
        return json_response({"detail": detail}, status=503)
    log_unhandled(log, exc)
    return json_response({"detail": INTERNAL_ERROR}, status=500)
