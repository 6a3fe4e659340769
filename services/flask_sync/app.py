"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, Response

from services.common.schemas import Health
from services.common.settings import ServiceSettings, get_settings
from services.flask_sync import db, errors, orders, responses, users
from services.flask_sync.responses import json_response


def create_app(settings: ServiceSettings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    # FastAPI answers OPTIONS with 405; so does this service (HEAD still follows Werkzeug,
    # which adds it to every GET route).
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    logging.basicConfig(level=logging.WARNING)
    responses.init_app(app, settings.json_encoder)
    db.init_app(app, settings)
    errors.init_app(app)
    app.register_blueprint(users.bp)
    app.register_blueprint(orders.bp)
    app.add_url_rule("/health", "health", _health)
    return app


def _health() -> Response:
    return json_response(Health())
