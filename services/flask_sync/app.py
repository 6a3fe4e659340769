"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, request

from services.common import edges
from services.common.schemas import Health
from services.common.settings import ServiceSettings, get_settings
from services.flask_sync import db, errors, orders, responses, users
from services.flask_sync.responses import json_response
from services.flask_sync.timing import ServerTiming


def create_app(settings: ServiceSettings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    # Request shapes, as services/common/edges.py decides them: OPTIONS is a 405, as on
    # FastAPI; HEAD is answered on every GET rule (Werkzeug adds it); paths match exactly.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.url_map.merge_slashes = edges.MERGE_SLASHES
    app.before_request(_exact_path)
    logging.basicConfig(level=logging.WARNING)
    responses.init_app(app, settings.json_encoder)
    db.init_app(app, settings)
    errors.init_app(app)
    app.register_blueprint(users.bp)
    app.register_blueprint(orders.bp)
    app.add_url_rule("/health", "health", _health)
    if settings.server_timing:
        # Replacing wsgi_app on the instance is how Flask's documentation adds WSGI middleware.
        app.wsgi_app = ServerTiming(app.wsgi_app)  # type: ignore[method-assign]  # Flask's idiom
    return app


def _exact_path() -> None:
    if edges.has_empty_segment(request.environ["PATH_INFO"]):
        abort(404)


def _health() -> Response:
    return json_response(Health())
