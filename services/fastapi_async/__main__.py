"""``python -m services.fastapi_async``: uvicorn with uvloop and httptools, from settings."""

from __future__ import annotations

import sys

import uvicorn

from services.common.settings import SettingsError, get_settings


def main() -> int:
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        "services.fastapi_async.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,  # access logs are off on both services
        log_level="warning",
        timeout_keep_alive=settings.keepalive,
        timeout_graceful_shutdown=5,
        backlog=2048,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
