"""The engine (one per worker process) and a Session per request, closed on teardown."""

from __future__ import annotations

import time

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from services.common.burn import burn
from services.common.engine import sync_engine, sync_sessions
from services.common.settings import ServiceSettings
from services.common.sync_access import SyncOrmAccess

EXTENSION = "database"
EXTERNAL_CALL = "external_call_s"
CPU_BURN = "cpu_burn_s"
RECONNECT = "reconnect"


def init_app(app: Flask, settings: ServiceSettings) -> None:
    # create_app() runs in each gunicorn worker after the fork (no preload_app), so every
    # worker owns its engine and no pooled connection is shared across processes.
    app.extensions[EXTENSION] = sync_sessions(sync_engine(settings))
    app.extensions[EXTERNAL_CALL] = settings.external_call_ms / 1000
    app.extensions[CPU_BURN] = settings.cpu_burn_ms / 1000
    app.extensions[RECONNECT] = settings.reconnect
    app.teardown_appcontext(_close_session)


def get_data() -> SyncOrmAccess:
    """This request's data access; its Session is opened on first use."""
    if "db_session" not in g:
        if spin := current_app.extensions[CPU_BURN]:
            burn(spin)  # CPU_BURN_MS
        if delay := current_app.extensions[EXTERNAL_CALL]:
            time.sleep(delay)  # EXTERNAL_CALL_MS: a blocking call, as sync clients make
        g.db_session = current_app.extensions[EXTENSION]()
    session: Session = g.db_session
    return SyncOrmAccess(session, current_app.extensions[RECONNECT])


def _close_session(_: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back anything uncommitted and returns the connection
