"""Where the time of successful responses went, from the services' ``Server-Timing``
header (services/common/timing.py), kept as mergeable data next to the latency.

Per response: ``queue`` = client-measured latency - ``app`` (accept queue, the worker's
thread queue or event loop, network, client), and ``app`` with its parts ``pool``,
``db``, ``orm``; the rest of ``app`` is the application's own code (``other``).

Sums give the mean request's breakdown. For the slowest requests the components of the
requests at or above p99 are needed, not the p99 of each component: measured windows
therefore also keep, per latency bucket (1/32 of a power of two, about 2%), the count
and the component sums of the responses in it. Everything merges by adding, across
Locust processes and seconds, like the histograms.
"""

from __future__ import annotations

import math
from typing import NotRequired

from typing_extensions import TypedDict  # pydantic validates these only on Python < 3.12

from loadtests.recording.histogram import Histogram, HistogramData

COMPONENTS = ("queue", "app", "pool", "db", "orm")
PARTS = ("app", "pool", "db", "orm")  # what the header carries
TAIL_BUCKETS_PER_OCTAVE = 32


class AttributionData(TypedDict):
    timed: int
    untimed: int
    sums: dict[str, int]  # component -> microseconds
    histograms: NotRequired[dict[str, HistogramData]]  # detailed only
    tail: NotRequired[dict[str, list[int]]]  # detailed only: bucket -> [count, sums...]


def parse_header(value: str | None) -> dict[str, int] | None:
    """``app;dur=2.003, pool;dur=0.041, ...`` -> microseconds by name; None if absent or
    malformed (such a response counts as untimed)."""
    if not value:
        return None
    parts: dict[str, int] = {}
    for item in value.split(","):
        name, _, duration = item.strip().partition(";dur=")
        if name in PARTS:
            try:
                parts[name] = round(float(duration) * 1000)
            except ValueError:
                return None
    return parts if "app" in parts else None


def tail_bucket(micros: int) -> int:
    return int(TAIL_BUCKETS_PER_OCTAVE * math.log2(max(micros, 1)))


def bucket_floor(index: int) -> float:
    return float(2 ** (index / TAIL_BUCKETS_PER_OCTAVE))


class Attribution:
    """Component sums over timed successful responses; with ``detailed`` (measured
    windows) also a histogram per component and the sums per latency bucket."""

    __slots__ = ("histograms", "sums", "tail", "timed", "untimed")

    def __init__(self, detailed: bool = False) -> None:
        self.timed = 0
        self.untimed = 0  # responses of any kind without the header
        self.sums = dict.fromkeys(COMPONENTS, 0)
        self.histograms = {c: Histogram() for c in COMPONENTS} if detailed else None
        self.tail: dict[int, list[int]] | None = {} if detailed else None

    def add(self, micros: int, parts: dict[str, int] | None, success: bool) -> None:
        if parts is None:
            self.untimed += 1
            return
        if not success:
            return  # a timed failure: its latency is already counted apart
        values = {"queue": max(0, micros - parts["app"]), **dict.fromkeys(PARTS[1:], 0), **parts}
        self.timed += 1
        for name in COMPONENTS:
            self.sums[name] += values[name]
        if self.histograms is not None and self.tail is not None:
            for name in COMPONENTS:
                self.histograms[name].record(values[name])
            row = self.tail.setdefault(tail_bucket(micros), [0] * (len(COMPONENTS) + 1))
            row[0] += 1
            for index, name in enumerate(COMPONENTS, start=1):
                row[index] += values[name]

    def merge(self, other: Attribution) -> Attribution:
        self.timed += other.timed
        self.untimed += other.untimed
        for name in COMPONENTS:
            self.sums[name] += other.sums[name]
        if self.histograms is not None and other.histograms is not None:
            for name in COMPONENTS:
                self.histograms[name].merge(other.histograms[name])
        if self.tail is not None and other.tail is not None:
            for bucket, row in other.tail.items():
                mine = self.tail.setdefault(bucket, [0] * len(row))
                for index, value in enumerate(row):
                    mine[index] += value
        return self

    def to_dict(self) -> AttributionData:
        data: AttributionData = {"timed": self.timed, "untimed": self.untimed, "sums": self.sums}
        if self.histograms is not None and self.tail is not None:
            data["histograms"] = {n: h.to_dict() for n, h in self.histograms.items()}
            data["tail"] = {str(bucket): row for bucket, row in self.tail.items()}
        return data

    @classmethod
    def from_dict(cls, data: AttributionData) -> Attribution:
        found = cls(detailed="tail" in data)
        found.timed, found.untimed = int(data["timed"]), int(data["untimed"])
        found.sums = {name: int(data["sums"].get(name, 0)) for name in COMPONENTS}
        if found.histograms is not None:
            found.histograms = {n: Histogram.from_dict(data["histograms"][n]) for n in COMPONENTS}
            found.tail = {int(b): [int(v) for v in row] for b, row in data["tail"].items()}
        return found

    def mean(self) -> dict[str, float]:
        """Microseconds per timed response, by component."""
        return {name: self.sums[name] / self.timed if self.timed else 0.0 for name in COMPONENTS}

    def slowest(self, threshold: int) -> tuple[int, dict[str, float]]:
        """The responses whose latency bucket is at or above that of ``threshold`` (p99):
        how many, and their mean components in microseconds."""
        assert self.tail is not None
        first = tail_bucket(threshold)
        count = 0
        sums = dict.fromkeys(COMPONENTS, 0.0)
        for bucket, row in self.tail.items():
            if bucket >= first:
                count += row[0]
                for index, name in enumerate(COMPONENTS, start=1):
                    sums[name] += row[index]
        return count, {name: sums[name] / count if count else 0.0 for name in COMPONENTS}
