"""The Server-Timing header on every response (services/common/timing.py).

A WSGI middleware around Flask: it times the whole application call, the session's
teardown included, which runs after Flask has already called ``start_response``. So the
middleware holds that call back until Flask returns, then adds the header (WSGI allows
this as long as nothing is written before; Flask never uses ``write``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from services.common.timing import HEADER, Timing, current

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ServerTiming:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        timing = Timing()
        token = current.set(timing)
        held: list[tuple[str, list[tuple[str, str]], Any]] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            held.append((status, headers, exc_info))
            return _no_write

        try:
            body = self.app(environ, hold)
        finally:
            current.reset(token)
        status, headers, exc_info = held[-1]
        start_response(status, [*headers, (HEADER, timing.header())], exc_info)
        return body


def _no_write(_: bytes) -> None:
    raise RuntimeError("the Server-Timing middleware does not support WSGI's write()")
