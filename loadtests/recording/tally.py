"""What the recorder counts per endpoint, window or second: successful responses' latency,
failed responses' latency, failures by kind, and where the successes' time went. Pure
data, shared by the recorder inside Locust and the runner that summarises what it wrote
(neither imports the other)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NotRequired

from typing_extensions import TypedDict  # pydantic validates these only on Python < 3.12

from loadtests.recording.attribution import Attribution, AttributionData
from loadtests.recording.histogram import Histogram, HistogramData

TIMEOUT = "timeout"
CONNECTION = "connection"
WRONG_BODY = "wrong_body"


class TallyData(TypedDict):
    """A tally as it travels: in Locust's worker reports and in the wire file."""

    ok: HistogramData
    failed: HistogramData
    errors: dict[str, int]  # failure kind -> count
    timing: NotRequired[AttributionData]
    # The open model (loadtests/locust/arrivals.py): the successes timed from their
    # intended start, and every response's lag (actual start - intended start).
    intended: NotRequired[HistogramData]
    lag: NotRequired[HistogramData]


class Tally:
    """Successes and failures are kept apart: throughput is goodput and the latency
    percentiles are those of successful responses; a service that fails fast does not
    look fast."""

    __slots__ = ("errors", "failed", "intended", "lag", "ok", "timing")

    def __init__(self, timing: Attribution | None = None) -> None:
        """``timing``: where the successes' time went (None: not kept, as per second)."""
        self.ok = Histogram()
        self.failed = Histogram()
        self.errors: Counter[str] = Counter()
        self.timing = timing
        self.intended: Histogram | None = None  # open model only
        self.lag: Histogram | None = None

    @property
    def count(self) -> int:
        return self.ok.count + self.failed.count

    @property
    def timed(self) -> Histogram:
        """The successes' latency as every figure and verdict uses it: from the intended
        start in the open model, from the send in the closed one."""
        return self.intended if self.intended is not None else self.ok

    def add(
        self,
        micros: int,
        kind: str | None,
        parts: dict[str, int] | None = None,
        late: int | None = None,
    ) -> None:
        """``late``: in the open model, microseconds from the intended start to the
        actual send; the response then also counts ``late + micros`` from its intended
        start (a success) and ``late`` as the generator's lag."""
        if kind is None:
            self.ok.record(micros)
        else:
            self.failed.record(micros)
            self.errors[kind] += 1
        if self.timing is not None:
            self.timing.add(micros, parts, success=kind is None)
        if late is not None:
            late = max(0, late)
            if self.lag is None:
                self.intended, self.lag = Histogram(), Histogram()
            assert self.intended is not None
            self.lag.record(late)
            if kind is None:
                self.intended.record(late + micros)

    def merge(self, other: Tally) -> Tally:
        self.ok.merge(other.ok)
        self.failed.merge(other.failed)
        self.errors.update(other.errors)
        if other.timing is not None:
            if self.timing is None:
                self.timing = Attribution(detailed=other.timing.tail is not None)
            self.timing.merge(other.timing)
        if other.lag is not None and other.intended is not None:
            if self.lag is None or self.intended is None:
                self.intended, self.lag = Histogram(), Histogram()
            self.intended.merge(other.intended)
            self.lag.merge(other.lag)
        return self

    def to_dict(self) -> TallyData:
        data: TallyData = {
            "ok": self.ok.to_dict(),
            "failed": self.failed.to_dict(),
            "errors": dict(self.errors),
        }
        if self.timing is not None:
            data["timing"] = self.timing.to_dict()
        if self.intended is not None and self.lag is not None:
            data["intended"], data["lag"] = self.intended.to_dict(), self.lag.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: TallyData) -> Tally:
        timing = data.get("timing")
        tally = cls(Attribution.from_dict(timing) if timing else None)
        tally.ok = Histogram.from_dict(data["ok"])
        tally.failed = Histogram.from_dict(data["failed"])
        tally.errors = Counter(data["errors"])
        if "intended" in data and "lag" in data:
            tally.intended = Histogram.from_dict(data["intended"])
            tally.lag = Histogram.from_dict(data["lag"])
        return tally


def merged(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total
