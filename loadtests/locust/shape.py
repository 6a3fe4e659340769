"""The load shape: follows the runner's schedule (loadtests/recording/schedule.py).

A greenlet switches the traffic from one variant's turn to the next at the moment the
previous window ends (in the open model, once its requests in flight are answered:
loadtests/locust/settle.py), and times each window from the switch it actually made, so
every window measures exactly its planned seconds however late gevent woke it. Locust's
``tick`` (about once a second) only sets the user count of the current step: a step's
first turn warms up long enough for the users to ramp. (The open model's users are a
fixed pool that carries the arrivals, so its steps may also take turns: interleaved.)

After the last window the shape holds zero users for ``DRAIN_S`` seconds before it ends
the test when Locust runs distributed: workers report every 3 s, and a report that
arrives after the test has ended is lost. A single process records every response as
it completes, so it only waits one tick for the requests still in flight.

Without ``--schedule`` (the web UI, by hand) the schedule is one target (``--host``)
through ``--steps``, a window per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import LoadTestShape
from locust.runners import MasterRunner

from loadtests.plan import DRAIN_S, LEVEL_UNITS, StepPlan
from loadtests.recording import schedule, wire
from loadtests.recording.wire import Schedule, Segment, WindowMeta

PROGRESS_EVERY_S = 5.0
LOCAL_DRAIN_S = 1.0


@dataclass
class Progress:
    segment: Segment
    steps: int
    blocks: int
    phase: str  # warm-up, measuring, answering its backlog (the open model, after a turn)
    total_left_s: float
    unit: str = LEVEL_UNITS["closed"]  # what the segment's number counts


@dataclass
class Hooks:
    """Set by the collector: what happens at a switch, at a window's end, and every few
    seconds with the progress."""

    restart: Callable[[], None]
    # the window, its host, new connections, Connection: close on every request
    switch: Callable[[WindowMeta, str, bool, bool], None]
    # the window, whether the next turn is a checkpoint (Segment.checkpoint), whether it
    # was the last of the test
    window_end: Callable[[WindowMeta, bool, bool], None]
    progress: Callable[[Progress], None]
    # after a window, before the next switch: the open model waits for the window's
    # requests still in flight (loadtests/locust/settle.py)
    settle: Callable[[WindowMeta], None] = lambda window: None
    # the master: every expected worker accepted (loadtests/locust/remote.py); until then
    # the shape holds the load at zero
    ready: Callable[[], bool] = lambda: True


def _noop(*_: Any) -> None:
    return None


class RisingSteps(LoadTestShape):
    """Every turn of the schedule: the step's users, one variant's traffic, its window."""

    hooks: ClassVar[Hooks] = Hooks(_noop, _noop, _noop, _noop)

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Locust leaves it unannotated
        self._restart()

    def reset_time(self) -> None:
        # Locust calls this when a test (re)starts, before the first tick.
        super().reset_time()  # type: ignore[no-untyped-call]  # Locust leaves it unannotated
        self._restart()
        self.hooks.restart()

    def _restart(self) -> None:
        follower: gevent.Greenlet[[Schedule, WindowMeta], None] | None = getattr(
            self, "_follower", None
        )
        if follower is not None:
            follower.kill(block=False)
        self.schedule: Schedule | None = None
        self.close = False
        self.current: WindowMeta | None = None
        self.segment: Segment | None = None
        self.done_at: float | None = None
        self.started = time.time()
        self.last_progress = 0.0
        self._follower: gevent.Greenlet[[Schedule, WindowMeta], None] | None = None

    def _load(self) -> Schedule:
        assert self.runner is not None  # Locust sets it before the first tick
        options = self.runner.environment.parsed_options
        assert options is not None
        if options.schedule:
            return wire.read_schedule(Path(options.schedule))
        host = self.runner.environment.host or ""
        return schedule.single(StepPlan.from_options(options), host)

    def tick(self) -> tuple[int, float] | None:
        if self.schedule is None and not self.hooks.ready():
            return 0, 1.0
        if self.schedule is None:
            # The first switch happens here, before Locust spawns (or tells its workers to
            # spawn) the first users: none of them ever sends to no variant's turn.
            self.schedule = self._load()
            self.close = self.schedule.connections == "close"
            first = self._switch(self.schedule.segments[0], None, self.schedule.reconnects)
            self._follower = gevent.spawn(self._follow, self.schedule, first)
        rate = float(max(self.schedule.spawned(s) for s in self.schedule.segments))
        if self.done_at is not None:
            drain = DRAIN_S if isinstance(self.runner, MasterRunner) else LOCAL_DRAIN_S
            return None if time.time() - self.done_at >= drain else (0, rate)
        self._report_progress()
        segment = self.segment or self.schedule.segments[0]
        return self.schedule.spawned(segment), rate  # a step's users spawn within a second

    def _follow(self, plan: Schedule, first: WindowMeta) -> None:
        """Switch at each window's end; never early, never skipped."""
        previous = first
        for segment in plan.segments[1:]:
            gevent.sleep(max(0.0, previous.end + previous.tail - time.time()))
            self.hooks.settle(previous)
            previous = self._switch(segment, previous, plan.reconnects)
        gevent.sleep(max(0.0, previous.end + previous.tail - time.time()))
        self.hooks.settle(previous)  # the last window's requests are answered, too
        self.hooks.window_end(previous, True, True)
        self.done_at = time.time()

    def _switch(self, segment: Segment, previous: WindowMeta | None, fresh: bool) -> WindowMeta:
        switch_at = time.time()
        start = switch_at + segment.start_s - segment.switch_s
        meta = WindowMeta(
            window=segment.window, step=segment.step, users=segment.users,
            block=segment.block, position=segment.position, variant=segment.variant,
            switch_at=switch_at, start=start, end=start + segment.end_s - segment.start_s,
            generator=segment.generator, tail=segment.tail_s, host=segment.host,
            arrivals=self.schedule.arrivals if self.schedule else None,
        )  # fmt: skip
        if previous is not None:
            self.hooks.window_end(previous, segment.checkpoint, False)
        self.segment, self.current = segment, meta
        self.hooks.switch(meta, segment.host, fresh, self.close)
        return meta

    def _report_progress(self) -> None:
        now = time.time()
        if now - self.last_progress < PROGRESS_EVERY_S or self.current is None:
            return
        self.last_progress = now
        assert self.schedule is not None and self.segment is not None
        meta = self.current
        left = self.schedule.total_s - (self.segment.end_s + self.segment.tail_s - (meta.end - now))
        self.hooks.progress(
            Progress(
                segment=self.segment,
                steps=len({s.step for s in self.schedule.segments}),
                blocks=max(s.block for s in self.schedule.segments if s.step == self.segment.step),
                phase=meta.phase(now),
                total_left_s=max(0.0, left),
                unit=LEVEL_UNITS["open" if self.schedule.arrivals else "closed"],
            )
        )
