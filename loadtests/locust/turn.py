"""Where this Locust process's users send their requests: the variant whose turn it is.

The load shape switches it in the master (or the lone process) and broadcasts it to the
workers; each user looks at it before every request and follows at once. A request
already sent stays with the variant it went to, and is recorded as that variant's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Turn:
    host: str | None = None  # None: Locust's --host
    variant: str = ""
    turn: int = -1  # the window it belongs to; a user compares it with the last it saw
    fresh: bool = False  # users open new connections at this switch
    paused: bool = False  # another generator's turn (the cross-check): users wait
    close: bool = False  # every request says Connection: close
    open: bool = False  # the open model: each request waits for its arrival (arrivals.py)


current = Turn()


def switch(
    host: str, variant: str, turn: int, fresh: bool, paused: bool, close: bool, arrivals: bool
) -> None:
    current.host, current.variant, current.turn = host, variant, turn
    current.fresh, current.paused, current.close, current.open = fresh, paused, close, arrivals
