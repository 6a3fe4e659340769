"""Rising concurrency: a Locust load shape that steps through user counts.

Each step ramps to its user count (in about a second), warms up, then measures for a
fixed window; only the measured windows count in the statistics. Windows are timed
from the moment the step actually started (Locust calls ``tick`` about once a second
and can be late while spawning), so every step measures exactly ``step_seconds``.
After the last step the shape holds zero users for ``DRAIN_S`` seconds before it ends
the test when Locust runs distributed: workers report every 3 s, and a report that
arrives after the test has ended is lost. A single process records every response as it
completes, so it only waits one tick for the requests still in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from locust import LoadTestShape
from locust.runners import MasterRunner

from loadtests.plan import DRAIN_S, StepPlan

PROGRESS_EVERY_S = 5.0
LOCAL_DRAIN_S = 1.0


@dataclass
class Progress:
    step: int
    steps: int
    users: int
    phase: str  # warm-up, measuring, draining
    step_left_s: float
    total_left_s: float


# Set by the locustfile: called when a measured window opens, when a step ends, and
# every few seconds with the progress.
Hooks = dict[str, Callable[..., None]]


class RisingSteps(LoadTestShape):
    """Steps through the --steps user counts: warm-up, then a measured window, each."""

    hooks: Hooks = {}  # noqa: RUF012 - class-level registry filled in by the locustfile

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Locust leaves it unannotated
        self._restart()

    def reset_time(self) -> None:
        # Locust calls this when a test (re)starts, before the first tick.
        super().reset_time()  # type: ignore[no-untyped-call]  # Locust leaves it unannotated
        self._restart()
        self._hook("restart")

    def _restart(self) -> None:
        self.plan: StepPlan | None = None
        self.step = -1
        self.step_started = 0.0
        self.drain_started: float | None = None
        self.last_progress = 0.0

    def _hook(self, name: str, *args: Any) -> None:
        if name in self.hooks:
            self.hooks[name](*args)

    def tick(self) -> tuple[int, float] | None:
        if self.plan is None:
            # Locust gives the shape its runner when it creates the runner, before any tick.
            assert self.runner is not None
            self.plan = StepPlan.from_options(self.runner.environment.parsed_options)
        plan, now = self.plan, time.time()
        if self.drain_started is not None:
            drain = DRAIN_S if isinstance(self.runner, MasterRunner) else LOCAL_DRAIN_S
            return None if now - self.drain_started >= drain else (0, 1.0)
        if self.step < 0 or now - self.step_started >= plan.step_s:
            if self.step >= 0:
                self._hook("step_end", self.step, self.step == len(plan.steps) - 1)
            self.step += 1
            if self.step == len(plan.steps):
                self.drain_started = now
                return 0, float(plan.steps[-1])
            self.step_started = now
            start = now + plan.warmup_s
            self._hook("window", self.step, plan.steps[self.step], start, start + plan.measure_s)
        self._report_progress(now)
        # Spawn the step's users within about a second.
        return plan.steps[self.step], float(plan.steps[-1])

    def _report_progress(self, now: float) -> None:
        if now - self.last_progress < PROGRESS_EVERY_S:
            return
        self.last_progress = now
        assert self.plan is not None
        in_step = now - self.step_started
        steps_after = len(self.plan.steps) - self.step - 1
        step_left = max(0.0, self.plan.step_s - in_step)
        phase = "warm-up" if in_step < self.plan.warmup_s else "measuring"
        self._hook(
            "progress",
            Progress(
                step=self.step + 1,
                steps=len(self.plan.steps),
                users=self.plan.steps[self.step],
                phase=phase,
                step_left_s=step_left,
                total_left_s=step_left + steps_after * self.plan.step_s + DRAIN_S,
            ),
        )
