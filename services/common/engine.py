"""Engines and sessions with the options every data-access mode shares, so that their
pools behave the same way."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from services.common.deadline import LoopWatch, ThreadWatch, watch
from services.common.settings import ServiceSettings
from services.common.timing import TimedConnection, TimedQueuePool
from services.common.urls import sync_url

# Every mode keeps loaded objects usable after commit: the response is built from them
# without the re-fetch that expire_on_commit=True would issue (and that the async ORM
# could not do implicitly anyway).
SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False}


def pool_options(settings: ServiceSettings, size: int | None = None) -> dict[str, Any]:
    """The pool of one worker process. ``size`` replaces pool + overflow where a mode
    splits its connection budget between two pools (hybrid)."""
    # No pool_pre_ping: it would add a round trip to every request. A connection the
    # server closed while idle is replaced without one (liveness.py); one that breaks in
    # the middle of a request's work invalidates the pool, and the request answers 503.
    if size is not None:
        return {"pool_size": size, "max_overflow": 0, "pool_timeout": settings.pool_timeout}
    return {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
    }


def sync_engine(settings: ServiceSettings) -> Engine:
    """SQLAlchemy + psycopg2: Flask, and FastAPI's sync-def and blocking modes."""
    # libpq takes whole seconds; before version 17 it turns 1 into 2 (the wheel has 17).
    connect_args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(settings.connect_limit))}
    timed: dict[str, Any] = {}
    if settings.server_timing:
        connect_args["connection_factory"] = TimedConnection
        timed["poolclass"] = TimedQueuePool
    engine = create_engine(
        sync_url(settings.database_url),
        connect_args=connect_args,
        **pool_options(settings),
        **timed,
    )
    guard(engine, settings, ThreadWatch)
    return engine


def guard(
    engine: Engine, settings: ServiceSettings, watcher: type[LoopWatch] | type[ThreadWatch]
) -> None:
    """What every SQLAlchemy pool of every mode gets: the request deadline (``watcher``
    for how this engine's callers wait)."""
    if settings.deadline is not None:
        watch(engine, watcher(settings.deadline))


def sync_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, **SESSION_OPTIONS)
