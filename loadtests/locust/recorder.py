"""The suite's own record of every response, inside the Locust processes.

Locust's percentiles are bucketed and its live percentiles are windowed, so the suite
records every response time itself:

* per measured window (one variant's turn at one step) and endpoint;
* per endpoint over the whole run, to check the count against Locust's own;
* per variant and second (all endpoints), for latency over time.

Each worker records locally and ships what it recorded since the last report to the
master inside Locust's own worker report (``report_to_master``); the master merges.
Because histograms merge exactly, the result is the same whether one or several
processes generated the load.

A response belongs to a measured window when it went to that window's variant, was sent
after the switch to it, and completed inside the window: requests still in flight at a
switch belong to no window. In the open model a response belongs to the window its
**arrival** (intended start) fell in, however late it completed, so that the requests a
backlog delayed past the window's end, the slowest, are not left out of its latency;
the window's throughput still counts the successes that completed inside it
(``served``), as the service delivered them. The master's load shape opens the windows
and broadcasts them, so every process classifies with the same boundaries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, NotRequired, TypeVar

from typing_extensions import TypedDict

from loadtests.recording.attribution import Attribution
from loadtests.recording.tally import CONNECTION, TIMEOUT, WRONG_BODY, Tally, TallyData
from loadtests.recording.wire import LocustCounts, Recorded, WindowMeta, WorkerSeen

K = TypeVar("K", bound=Hashable)
WINDOW_MESSAGE = "loadtests_window"
REPORT_KEY = "loadtests"


class Delta(TypedDict):
    """What a worker recorded since its last report, inside Locust's worker report."""

    measured: list[tuple[int, str, TallyData]]  # (window, endpoint, tally)
    totals: dict[str, TallyData]
    series: list[tuple[str, int, TallyData]]  # (variant, epoch second, tally)
    dropped: NotRequired[list[tuple[int, int]]]  # open model: (window, arrivals dropped)
    served: NotRequired[list[tuple[int, str, int]]]  # open model: (window, endpoint, successes)


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


def _total() -> Tally:
    return Tally(Attribution())


def _measured() -> Tally:
    return Tally(Attribution(detailed=True))


def _tally(table: dict[K, Tally], key: K, new: Callable[[], Tally]) -> Tally:
    """``table[key]``, made by ``new`` the first time. Not setdefault: that would build
    (and throw away) a Tally for every response, once per response in the generator's
    only thread."""
    found = table.get(key)
    if found is None:
        found = table[key] = new()
    return found


class Recorder:
    """One per Locust process. Workers keep deltas; the master (or a lone process)
    accumulates everything."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.recent: list[WindowMeta] = []  # the current window and the one before it
        self.measured: dict[tuple[int, str], Tally] = {}
        self.totals: dict[str, Tally] = {}
        self.series: dict[tuple[str, int], Tally] = {}
        self.per_worker: Counter[str] = Counter()
        self.dropped: Counter[int] = Counter()  # open model: window -> arrivals dropped
        # open model: (window, endpoint) -> successes that completed inside the window
        self.served: Counter[tuple[int, str]] = Counter()

    def open_window(self, window: WindowMeta) -> None:
        # A window opened again replaces its first opening: Locust restarts the shape once
        # as the test starts (``reset_time``), and a worker, which never sees that
        # restart, would otherwise count the first window from its earlier start too.
        kept = [w for w in self.recent[-1:] if w.window != window.window]
        self.recent = [*kept, window]

    def window_of(self, variant: str, started: float, completed: float) -> int | None:
        for window in self.recent:
            if (
                window.variant == variant
                and started >= window.switch_at
                and window.start <= completed < window.end
            ):
                return window.window
        return None

    def arrival_window(self, variant: str, intended: float) -> int | None:
        """The open model: the window of ``variant`` whose measured span holds the arrival."""
        for window in self.recent:
            if window.variant == variant and window.start <= intended < window.end:
                return window.window
        return None

    def record(
        self,
        name: str,
        variant: str,
        started: float,
        millis: float,
        kind: str | None,
        timing: dict[str, int] | None = None,
        intended: float | None = None,
    ) -> None:
        """One response from ``variant``; ``timing``: the service's Server-Timing parts in
        microseconds; ``intended``: its intended start in the open model (epoch s)."""
        micros = round(millis * 1000)
        completed = started + millis / 1000.0
        late = round((started - intended) * 1e6) if intended is not None else None
        _tally(self.totals, name, _total).add(micros, kind, timing, late)
        _tally(self.series, (variant, int(completed)), Tally).add(micros, kind, None, late)
        if intended is None:
            window = self.window_of(variant, started, completed)
        else:
            window = self.arrival_window(variant, intended)
            served = self.window_of(variant, started, completed)
            if served is not None and kind is None:
                self.served[served, name] += 1
        if window is not None:
            _tally(self.measured, (window, name), _measured).add(micros, kind, timing, late)

    def drop(self, window: int, at: float | None = None, count: int = 1) -> None:
        """Open model: arrivals of ``window`` that found no idle user; with ``at`` (the
        intended time), only those inside its measured window count, as for responses."""
        if at is not None and not any(
            w.window == window and w.start <= at < w.end for w in self.recent
        ):
            return
        self.dropped[window] += count

    # -- worker -> master ------------------------------------------------------------------

    def take_delta(self) -> Delta:
        """What was recorded since the last call, serialised; the local state is cleared."""
        delta: Delta = {
            "measured": [(w, name, t.to_dict()) for (w, name), t in self.measured.items()],
            "totals": {name: t.to_dict() for name, t in self.totals.items()},
            "series": [(v, second, t.to_dict()) for (v, second), t in self.series.items()],
            "dropped": list(self.dropped.items()),
            "served": [(w, name, count) for (w, name), count in self.served.items()],
        }
        self.measured, self.totals, self.series = {}, {}, {}
        self.dropped, self.served = Counter(), Counter()
        return delta

    def merge_delta(self, delta: Delta, worker: str) -> None:
        for window, name, data in delta["measured"]:
            self.measured.setdefault((int(window), name), Tally()).merge(Tally.from_dict(data))
        for name, data in delta["totals"].items():
            tally = Tally.from_dict(data)
            self.per_worker[worker] += tally.count
            self.totals.setdefault(name, Tally()).merge(tally)
        for variant, second, data in delta["series"]:
            self.series.setdefault((variant, int(second)), Tally()).merge(Tally.from_dict(data))
        for window, count in delta.get("dropped", []):
            self.dropped[int(window)] += int(count)
        for window, name, count in delta.get("served", []):
            self.served[int(window), name] += int(count)

    # -- master -> runner ------------------------------------------------------------------

    def snapshot(
        self,
        complete: bool,
        windows: dict[int, WindowMeta],
        locust: LocustCounts,
        workers: dict[str, WorkerSeen] | None = None,
    ) -> Recorded:
        measured: dict[int, dict[str, TallyData]] = {}
        for (window, name), tally in self.measured.items():
            measured.setdefault(window, {})[name] = tally.to_dict()
        served: dict[int, dict[str, int]] = {}
        for (window, name), count in self.served.items():
            served.setdefault(window, {})[name] = count
        series: dict[str, dict[int, TallyData]] = {}
        for (variant, second), tally in sorted(self.series.items()):
            series.setdefault(variant, {})[second] = tally.to_dict()
        # Typed here, validated where it is read: no validation pass inside the load
        # generator's event loop at the end of every block.
        return Recorded.model_construct(
            complete=complete,
            windows=windows,
            measured=measured,
            totals={name: t.to_dict() for name, t in self.totals.items()},
            series=series,
            per_worker=dict(self.per_worker),
            locust=locust,
            dropped=dict(self.dropped),
            served=served,
            workers=dict(workers or {}),
        )
