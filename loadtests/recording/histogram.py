"""A mergeable latency histogram with HdrHistogram's log-linear buckets.

Values are integer microseconds. Below 2,048 µs every value has its own bucket; above,
each power-of-two range is split into 1,024 buckets, so a reported value is never more
than 1/1024 (about 0.1%) above the recorded one. Buckets are kept sparse (a dict), so a
histogram per second, step and endpoint costs only the buckets it uses, and merging two
histograms (from two Locust workers, or two seconds) is adding their counts: the merged
percentiles are exactly those of the combined recording.

Percentiles use the nearest-rank definition and report the bucket's highest value, as
HdrHistogram does; min, max, count and mean are exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

from typing_extensions import TypedDict  # pydantic validates these only on Python < 3.12

SUB_BUCKET_BITS = 11  # 2,048 exact values, then 1,024 buckets per power of two
_EXACT_LIMIT = 1 << SUB_BUCKET_BITS
_HALF = _EXACT_LIMIT >> 1

REPORTED_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


class HistogramData(TypedDict):
    """A histogram as it travels (Locust's reports, the wire file, results.json)."""

    count: int
    total: int
    min: int
    max: int
    buckets: dict[str, int]  # bucket index -> count (JSON keys are strings)


def bucket_of(value: int) -> int:
    """The bucket index of ``value`` (monotonic in value)."""
    if value < _EXACT_LIMIT:
        return value
    shift = value.bit_length() - SUB_BUCKET_BITS
    return _EXACT_LIMIT + (shift - 1) * _HALF + ((value >> shift) - _HALF)


def highest_in_bucket(index: int) -> int:
    """The largest value that falls into bucket ``index``."""
    if index < _EXACT_LIMIT:
        return index
    shift, offset = divmod(index - _EXACT_LIMIT, _HALF)
    shift += 1
    return (((offset + _HALF) + 1) << shift) - 1


class Histogram:
    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, value: int) -> None:
        value = max(0, int(value))
        index = bucket_of(value)
        self.counts[index] = self.counts.get(index, 0) + 1
        if self.count == 0 or value < self.min:
            self.min = value
        self.max = max(self.max, value)
        self.count += 1
        self.total += value

    def merge(self, other: Histogram) -> Histogram:
        if other.count == 0:
            return self
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.min = other.min if self.count == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total
        return self

    def percentile(self, percent: float) -> int:
        """The nearest-rank percentile (0 < percent <= 100); 0 for an empty histogram."""
        return self.percentiles((percent,))[percent]

    def rank(self, percent: float) -> int:
        """The nearest rank of ``percent``, in exact arithmetic: with floats, 99.9% of
        1,000 samples would be rank 1,000 (the maximum) instead of 999."""
        return max(1, math.ceil(Fraction(str(percent)) * self.count / 100))

    def percentiles(self, percents: Iterable[float] = REPORTED_PERCENTILES) -> dict[float, int]:
        """Several percentiles in one pass over the buckets."""
        wanted = sorted(percents)
        result: dict[float, int] = {}
        if self.count == 0:
            return dict.fromkeys(wanted, 0)
        ranks = [(p, self.rank(p)) for p in wanted]
        seen = 0
        position = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            while position < len(ranks) and seen >= ranks[position][1]:
                result[ranks[position][0]] = min(highest_in_bucket(index), self.max)
                position += 1
            if position == len(ranks):
                break
        return result

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def to_dict(self) -> HistogramData:
        return {
            "count": self.count,
            "total": self.total,
            "min": self.min,
            "max": self.max,
            "buckets": {str(index): n for index, n in sorted(self.counts.items())},
        }

    @classmethod
    def from_dict(cls, data: HistogramData) -> Histogram:
        histogram = cls()
        histogram.counts = {int(index): int(n) for index, n in data["buckets"].items()}
        histogram.count = int(data["count"])
        histogram.total = int(data["total"])
        histogram.min = int(data["min"])
        histogram.max = int(data["max"])
        return histogram

    def __len__(self) -> int:
        return self.count
