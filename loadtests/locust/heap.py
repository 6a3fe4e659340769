"""The Locust process's garbage collection, kept out of the measured windows.

CPython's automatic full collection scans every tracked object the process holds: here
a thousand users with their sessions and connection pools, about 30 ms on the project's
machine, one every dozen seconds at 2,000 req/s. The event loop stops for it, so every
arrival due during the pause is sent late, and the latencies timed from the intended
start carry the generator's pause as if it were the service's (README, "How far one
Locust process keeps the schedule").
"""

from __future__ import annotations

import gc


def between_turns() -> None:
    """A full collection now, at a switch (in the next turn's warm-up), and what survives
    it set aside (``gc.freeze``) until the next switch, so the collections inside the
    window scan only what the window itself allocated. Unfreezing first lets this
    collection free whatever the last turn left in reference cycles: nothing frozen
    leaks beyond one turn."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
