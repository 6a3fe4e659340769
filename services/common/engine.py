"""Engine and session options both services use, so their pools behave the same."""

from __future__ import annotations

from typing import Any

from services.common.settings import ServiceSettings

# Both services keep loaded objects usable after commit: the response is built from
# them without the re-fetch that expire_on_commit=True would issue (and that the async
# service could not do implicitly anyway).
SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False}


def pool_options(settings: ServiceSettings) -> dict[str, Any]:
    # No pool_pre_ping: it would add a round trip to every request. A dropped connection
    # is detected on use, invalidates the pool, and the request answers 503.
    return {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
    }
