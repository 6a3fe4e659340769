"""The Locust process's garbage collection, kept out of the measured windows.

CPython's automatic full collection scans every tracked object the process holds: here
a thousand users with their sessions and connection pools, 27-38 ms on the project's
machine, one every dozen seconds or so at 2,000 req/s. The event loop stops for it, so
every arrival due during the pause is sent late, and the latencies timed from the
intended start carry the generator's pause as if it were the service's (README, "How
far one Locust process keeps the schedule").
"""

from __future__ import annotations

import gc


def between_turns() -> None:
    """A full collection now, and what survives it set aside (``gc.freeze``) until the
    next call, so the collections inside a window scan only what was allocated since.

    Called at every switch (the next turn's warm-up) and once the users of a step have
    spawned, within the second after its switch, so the users are set aside from the
    first window on. Unfreezing first lets each call free whatever the last turn left
    in reference cycles: nothing frozen leaks beyond one turn. It also undoes the
    freeze Locust makes before forking ``--processes`` children to share their memory,
    which costs each child a private copy of those pages (about 11 MB by Locust's own
    estimate): a small price for windows without a 30 ms pause."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
