"""A trivial HTTP endpoint for measuring the load generator itself (``python -m loadtests
generator``): ``GET /health`` answered with the services' health body, from one
pre-built response, on uvloop.

It costs a few microseconds of CPU per request, an order of magnitude less than a Locust
request costs its sender, so a run against it finds where the generator stops, not the
target. Requests are read as heads only (no bodies): the generator sends plain GETs on
kept-alive connections, possibly several before reading an answer.

    python -m loadtests.infra.trivial HOST PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import uvloop

from services.common.schemas import Health

PATH = "/health"
BODY = Health().model_dump_json().encode()  # the services' own answer
_HEAD = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
FOUND = _HEAD % (200, b"OK", len(BODY)) + BODY
NOT_FOUND = _HEAD % (404, b"Not Found", 0)
END_OF_HEAD = b"\r\n\r\n"
MAX_HEAD = 64 * 1024  # a client sending more without ending its head is cut off
# "GET /health" followed by a space (HTTP/1.1) or a query
_ANSWERED = (b"GET " + PATH.encode() + b" ", b"GET " + PATH.encode() + b"?")


class _Connection(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        *heads, self.pending = self.pending.split(END_OF_HEAD)
        if heads:
            self.transport.write(b"".join(_answer(head) for head in heads))
        if len(self.pending) > MAX_HEAD:
            self.transport.close()


def _answer(head: bytes) -> bytes:
    return FOUND if head.startswith(_ANSWERED) else NOT_FOUND


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(
        _Connection, host, port, backlog=4096, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print("usage: python -m loadtests.infra.trivial HOST PORT", file=sys.stderr)
        return 2
    try:
        uvloop.run(serve(argv[0], int(argv[1])))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot listen at {argv[0]}:{argv[1]}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
