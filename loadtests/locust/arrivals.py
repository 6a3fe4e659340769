"""Open-model arrivals inside one Locust process (``run --model open``; README, "Two
models").

In the closed model a user sends its next request when the previous one is answered, so
a slow service receives fewer requests and a stall postpones the requests that would
have been sent during it. Here requests arrive on their own schedule instead: intended
start times (Poisson, or evenly spaced) at the process's share of the rate, and a clock
greenlet that hands each one to an idle user, which sends at once and is timed from the
**intended** start, not from when it got to send (the coordinated-omission correction).
Users are only the concurrency that carries the arrivals: when the clock finds none
idle for an arrival, it is **dropped** and counted, as k6 counts ``dropped_iterations``.
(A clock that is itself late, held off by the event loop, decides when it gets there:
a user that came back meanwhile sends the arrival, late, rather than it being dropped.)

The most recently idle user takes the next arrival (a stack, not a queue), so a few
users carry the load on warm connections instead of all of them in turn on cold ones.
A user that finishes its request when an arrival is already due takes that arrival at
once, without waiting for the clock: the event loop runs one greenlet at a time, and a
burst of responses (a service that stalled and then answers a hundred requests
together) would otherwise hold the clock greenlet off for the whole burst, tens of
milliseconds, while the users handling it each become idle within a fraction of a
millisecond. Within such a burst an arrival waits for one response's handling, not for
the whole burst; whatever else holds the loop still delays it.

At the end of a turn the clock stops and ``settle`` waits until every arrival handed out
is answered (README, "Between turns"): a variant pushed past its capacity ends its turn
with a backlog that its service would otherwise work off during the next variant's turn,
on the same core.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field

import gevent
from gevent.event import AsyncResult

from loadtests.plan import ArrivalKind as Kind

SETTLE_POLL_S = 0.01  # how often a settling turn looks whether its last request is back


@dataclass
class ArrivalTimes:
    """One turn's intended start times, drawn one at a time and each handed out once
    (not the run's ``wire.Schedule`` of turns)."""

    rate: float
    kind: Kind
    window: int
    rng: random.Random
    now: InitVar[float]  # when the turn's arrivals start
    origin: float = field(init=False)
    due: float = field(init=False)  # the next arrival's intended start
    count: int = field(init=False, default=0)

    def __post_init__(self, now: float) -> None:
        # A constant schedule starts at a random phase, so that several processes at
        # the same rate do not send in lockstep; Poisson arrivals need none.
        random_phase = self.rng.random() / self.rate if self.kind == "constant" else 0.0
        self.origin = self.due = now + random_phase
        self.advance()  # the first arrival is one interval after the origin

    def advance(self) -> float:
        """The next arrival's intended start; the one after it becomes ``due``."""
        intended = self.due
        self.count += 1
        # Evenly spaced times from their origin, not summed: no drift in floating point.
        self.due = (
            self.due + self.rng.expovariate(self.rate)
            if self.kind == "poisson"
            else self.origin + self.count / self.rate
        )
        return intended


class Arrivals:
    """One process's arrival clock and its idle users."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = gevent.sleep,
    ) -> None:
        self.clock, self.sleep = clock, sleep
        self.idle: list[AsyncResult[float]] = []
        self.dropped: Counter[int] = Counter()  # window -> arrivals no user was idle for
        self.sent: Counter[int] = Counter()  # window -> arrivals handed to a user
        self.in_flight = 0  # arrivals handed to a user and not yet answered
        # The recorder's count: the window and the arrival's intended time.
        self.on_drop: Callable[[int, float], None] = lambda window, at: None
        self._times: ArrivalTimes | None = None
        self._clock: gevent.Greenlet[..., None] | None = None

    def take(self) -> float:
        """Block the calling user until an arrival is its; return the intended start.

        An arrival already due is the caller's at once (see the module's docstring)."""
        times = self._times
        if times is not None and times.due <= self.clock():
            return self._hand_out(times)
        slot: AsyncResult[float] = AsyncResult()
        self.idle.append(slot)
        try:
            start = slot.get()
            assert start is not None  # the clock only ever sets a time
            return start
        finally:
            if slot in self.idle:  # killed while waiting (the test stopped)
                self.idle.remove(slot)

    def start(self, rate: float, kind: Kind, window: int, seed: int | None = None) -> None:
        """Arrivals at ``rate`` per second from now on, counted against ``window``; a
        rate of 0 stops them (another generator's turn, or the end)."""
        self.stop()
        if rate > 0:
            rng = random.Random(seed)
            self._times = ArrivalTimes(rate, kind, window, rng, now=self.clock())
            self._clock = gevent.spawn(self._run, self._times)

    def answered(self) -> None:
        """A user's request for its arrival is over (answered, failed or timed out)."""
        self.in_flight = max(0, self.in_flight - 1)

    def settle(self, limit_s: float) -> int:
        """Stop the clock, then wait up to ``limit_s`` until every arrival handed out is
        answered; return how many still were not."""
        self.stop()
        deadline = self.clock() + limit_s
        while self.in_flight and self.clock() < deadline:
            self.sleep(SETTLE_POLL_S)
        return self.in_flight

    def reset(self) -> None:
        """A new test: nothing of an earlier one is in flight (its users were stopped)."""
        self.stop()
        self.in_flight = 0

    def stop(self) -> None:
        self._times = None  # no user takes an arrival of a stopped clock either
        if self._clock is not None:
            self._clock.kill(block=False)
            self._clock = None

    def _hand_out(self, times: ArrivalTimes) -> float:
        self.sent[times.window] += 1
        self.in_flight += 1
        return times.advance()

    def _run(self, times: ArrivalTimes) -> None:
        try:
            while True:
                # Always yield, even when late: the users woken by the last arrivals must
                # get to send, or a late clock would hand out a burst nobody can take.
                self.sleep(max(0.0, times.due - self.clock()))
                if times.due > self.clock():
                    continue  # a user that came back meanwhile took the arrival itself
                if self.idle:
                    self.idle.pop().set(self._hand_out(times))
                else:
                    self.dropped[times.window] += 1
                    self.on_drop(times.window, times.advance())
        finally:
            # Killed by stop(), or died on an error: either way no user may go on taking
            # arrivals that no clock counts drops for any more.
            if self._times is times:
                self._times = None


current = Arrivals()  # this process's clock; the collector starts it at every switch
