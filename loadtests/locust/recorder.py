"""The suite's own record of every response, inside the Locust processes.

Locust's percentiles are bucketed and its live percentiles are windowed, so the suite
records every response time itself:

* per measured window (step) and endpoint, for the step tables;
* per endpoint over the whole run, to check the count against Locust's own;
* per second (all endpoints), for latency over time.

Each worker records locally and ships what it recorded since the last report to the
master inside Locust's own worker report (``report_to_master``); the master merges.
Because histograms merge exactly, the result is the same whether one or several
processes generated the load.

A response belongs to the measured window its *completion* falls in. The master's
load shape opens the windows and broadcasts them, so every process classifies with
the same boundaries.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from typing_extensions import TypedDict

from loadtests.recording.attribution import Attribution
from loadtests.recording.tally import CONNECTION, TIMEOUT, WRONG_BODY, Tally, TallyData
from loadtests.recording.wire import LocustCounts, Recorded, StepMeta

WINDOW_MESSAGE = "loadtests_window"
REPORT_KEY = "loadtests"


class Delta(TypedDict):
    """What a worker recorded since its last report, inside Locust's worker report."""

    measured: list[tuple[int, str, TallyData]]  # (step, endpoint, tally)
    totals: dict[str, TallyData]
    series: dict[str, TallyData]  # epoch second -> tally


def error_kind(exception: BaseException | None, response: Any) -> str | None:
    """None for a success; else timeout, connection, wrong_body or http_<status>."""
    if exception is None:
        return None
    chain = [exception, getattr(exception, "original", None)]
    if any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in chain if e):
        return TIMEOUT
    status = int(getattr(response, "status_code", 0) or 0)
    if status == 0:
        return CONNECTION
    if str(exception).startswith(WRONG_BODY):
        return WRONG_BODY
    return f"http_{status}"


class Recorder:
    """One per Locust process. Workers keep deltas; the master (or a lone process)
    accumulates everything."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.windows: dict[int, tuple[float, float]] = {}
        self.measured: dict[tuple[int, str], Tally] = {}
        self.totals: dict[str, Tally] = {}
        self.series: dict[int, Tally] = {}
        self.per_worker: Counter[str] = Counter()

    def open_window(self, step: int, start: float, end: float) -> None:
        self.windows[step] = (start, end)

    def step_at(self, moment: float) -> int | None:
        for step, (start, end) in self.windows.items():
            if start <= moment < end:
                return step
        return None

    def record(
        self,
        name: str,
        started: float,
        millis: float,
        kind: str | None,
        timing: dict[str, int] | None = None,
    ) -> None:
        """One response; ``timing``: the service's Server-Timing parts in microseconds."""
        micros = round(millis * 1000)
        completed = started + millis / 1000.0
        self.totals.setdefault(name, Tally(Attribution())).add(micros, kind, timing)
        self.series.setdefault(int(completed), Tally()).add(micros, kind)
        step = self.step_at(completed)
        if step is not None:
            measured = self.measured.setdefault((step, name), Tally(Attribution(detailed=True)))
            measured.add(micros, kind, timing)

    # -- worker -> master ------------------------------------------------------------------

    def take_delta(self) -> Delta:
        """What was recorded since the last call, serialised; the local state is cleared."""
        delta: Delta = {
            "measured": [(step, name, t.to_dict()) for (step, name), t in self.measured.items()],
            "totals": {name: t.to_dict() for name, t in self.totals.items()},
            "series": {str(second): t.to_dict() for second, t in self.series.items()},
        }
        self.measured, self.totals, self.series = {}, {}, {}
        return delta

    def merge_delta(self, delta: Delta, worker: str) -> None:
        for step, name, data in delta["measured"]:
            self.measured.setdefault((int(step), name), Tally()).merge(Tally.from_dict(data))
        for name, data in delta["totals"].items():
            tally = Tally.from_dict(data)
            self.per_worker[worker] += tally.count
            self.totals.setdefault(name, Tally()).merge(tally)
        for second, data in delta["series"].items():
            self.series.setdefault(int(second), Tally()).merge(Tally.from_dict(data))

    # -- master -> runner ------------------------------------------------------------------

    def snapshot(
        self, complete: bool, steps: dict[int, StepMeta], locust: LocustCounts
    ) -> Recorded:
        measured: dict[int, dict[str, TallyData]] = {}
        for (step, name), tally in self.measured.items():
            measured.setdefault(step, {})[name] = tally.to_dict()
        # Typed here, validated where it is read: no validation pass inside the load
        # generator's event loop at the end of every step.
        return Recorded.model_construct(
            complete=complete,
            steps=steps,
            measured=measured,
            totals={name: t.to_dict() for name, t in self.totals.items()},
            series={second: t.to_dict() for second, t in sorted(self.series.items())},
            per_worker=dict(self.per_worker),
            locust=locust,
        )
