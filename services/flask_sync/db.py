"""The engine (one per worker process) and a Session per request, closed on teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from services.common.engine import SESSION_OPTIONS, pool_options
from services.common.settings import ServiceSettings
from services.common.urls import sync_url

EXTENSION = "database"


def init_app(app: Flask, settings: ServiceSettings) -> None:
    # create_app() runs in each gunicorn worker after the fork (no preload_app), so every
    # worker owns its engine and no pooled connection is shared across processes.
    engine = create_engine(
        sync_url(settings.database_url),
        connect_args={"connect_timeout": max(1, round(settings.connect_timeout))},
        **pool_options(settings),
    )
    app.extensions[EXTENSION] = sessionmaker(engine, **SESSION_OPTIONS)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions[EXTENSION]()
    session: Session = g.db_session
    return session


def _close_session(_: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back anything uncommitted and returns the connection
