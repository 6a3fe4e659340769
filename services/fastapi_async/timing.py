"""The Server-Timing header on every response (services/common/timing.py).

A pure ASGI middleware (no BaseHTTPMiddleware, which would run the app in another task
and lose the request's context): the header is added to ``http.response.start``, sent
once the endpoint has returned and its session is closed. Responses that Starlette's
outermost error middleware writes itself (an unhandled 500) carry no header.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.timing import HEADER, Timing, current

_HEADER = HEADER.encode()


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = Timing()
        token = current.set(timing)

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":  # the message is ours to change
                message["headers"] = [
                    *message.get("headers", ()),
                    (_HEADER, timing.header().encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            current.reset(token)
