"""Error bodies and status codes, identical on both services.

* 404 ``{"detail": "..."}`` for unknown ids and routes,
* 422 ``{"detail": [{"type", "loc", "msg"}, ...]}`` for invalid input, in the order
  FastAPI reports it (path, query, body),
* 503 ``{"detail": "..."}`` when the database is unreachable or the pool is exhausted.

FastAPI's own 422 entries also carry ``input`` and ``ctx``; the contract keeps only the
three keys both services can produce identically.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc

DATABASE_UNAVAILABLE = "Database unavailable"
POOL_EXHAUSTED = "Database connection pool exhausted"
INTERNAL_ERROR = "Internal Server Error"


class PoolExhausted(Exception):
    """No connection became free within the pool timeout (raised where the suite waits for
    connections itself: the fair gate, asyncpg's pool)."""


class InvalidInput(Exception):
    """Request input failed validation; carries contract-shaped error entries."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def error_entries(errors: Iterable[Any], prefix: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """Pydantic or FastAPI error dicts, reduced to the contract's keys."""
    entries = []
    for error in errors:
        loc = [*prefix, *error["loc"]]
        if error["type"] == "json_invalid":
            loc = ["body"]  # the character offset differs between JSON parsers
        entries.append({"type": error["type"], "loc": loc, "msg": error["msg"]})
    return entries


def malformed_json() -> InvalidInput:
    return InvalidInput([{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}])


def unknown_reference(loc: list[str | int], what: str, ident: int) -> dict[str, Any]:
    return {"type": "not_found", "loc": loc, "msg": f"{what} {ident} does not exist"}


def not_found(what: str, ident: int) -> str:
    return f"{what} {ident} not found"


# SQLSTATEs that mean "no usable connection": class 08 (connection exception), the
# server shutting down or starting up (57P01-57P03), too many connections (53300).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def _sqlstate(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return str(code or "")


def database_error_detail(exc: BaseException) -> str | None:
    """The 503 detail for an exception that means "the database is not there right now",
    or None for any other exception (a bug, answered with 500)."""
    if isinstance(exc, sa_exc.TimeoutError | PoolExhausted):
        return POOL_EXHAUSTED
    if isinstance(exc, sa_exc.DBAPIError) and (
        exc.connection_invalidated
        or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    ):
        return DATABASE_UNAVAILABLE
    if _sqlstate(exc).startswith(_UNAVAILABLE_SQLSTATES):
        return DATABASE_UNAVAILABLE
    # asyncpg raises connect-time errors unwrapped: refused, reset, DNS, connect timeout
    # (TimeoutError is an OSError), "connection is closed" (its InterfaceError).
    if isinstance(exc, OSError):
        return DATABASE_UNAVAILABLE
    if type(exc).__module__.startswith("asyncpg") and "connection" in str(exc).lower():
        return DATABASE_UNAVAILABLE
    return None


UNHANDLED_PREFIX = "unhandled "
_seen: set[str] = set()


def log_unhandled(log: logging.Logger, exc: BaseException) -> None:
    """One line per failure (the load runner counts them by kind from the log), with the
    traceback only the first time a kind of failure is seen: under load a failure can
    repeat thousands of times a second."""
    kind = type(exc).__name__
    message = " ".join(str(exc).split())[:300]
    log.error(
        "%s%s: %s", UNHANDLED_PREFIX, kind, message, exc_info=exc if kind not in _seen else None
    )
    _seen.add(kind)
