"""The latency histogram: exact below 2 ms, within 0.1% above, and exactly mergeable."""

from __future__ import annotations

import random

import pytest

from loadtests.recording.histogram import Histogram, bucket_of, highest_in_bucket


def nearest_rank(values: list[int], percent: float) -> int:
    ordered = sorted(values)
    rank = -(-round(percent * 1000) * len(ordered) // 100_000)  # exact integer ceiling
    return ordered[max(1, rank) - 1]


def test_buckets_are_monotonic_and_tight() -> None:
    previous = -1
    for value in [*range(0, 5000), *range(5000, 10_000_000, 997)]:
        index = bucket_of(value)
        assert index >= previous
        previous = index
        top = highest_in_bucket(index)
        assert value <= top <= value + value / 1024 + 1, value
        assert bucket_of(top) == index


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_match_the_raw_data(seed: int) -> None:
    rng = random.Random(seed)
    values = [int(rng.lognormvariate(9, 1.2)) for _ in range(20_000)]  # µs, ~8 ms median
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    for percent in (50, 90, 95, 99, 99.9, 100):
        exact = nearest_rank(values, percent)
        reported = histogram.percentile(percent)
        assert exact <= reported <= exact * (1 + 1 / 1024) + 1, (percent, exact, reported)
    assert histogram.count == len(values)
    assert histogram.max == max(values) and histogram.min == min(values)
    assert histogram.mean == pytest.approx(sum(values) / len(values))
    assert histogram.percentiles((50, 99)) == {
        50: histogram.percentile(50),
        99: histogram.percentile(99),
    }


@pytest.mark.parametrize("count", [1000, 2000, 7000, 123_000])
def test_p99_9_rank_is_exact_where_floats_round_up(count: int) -> None:
    # math.ceil(99.9 / 100 * 1000) is 1000 in floating point: the maximum, not p99.9.
    histogram = Histogram()
    for value in range(1, count + 1):
        histogram.record(value)
    assert histogram.rank(99.9) == count * 999 // 1000
    assert histogram.percentile(99.9) == highest_in_bucket(bucket_of(count * 999 // 1000))
    assert histogram.percentile(99.9) < count


def test_small_values_are_exact() -> None:
    histogram = Histogram()
    values = list(range(1, 2001))
    for value in values:
        histogram.record(value)
    assert histogram.percentile(50) == 1000 and histogram.percentile(99) == 1980


def test_merging_equals_recording_everything_in_one() -> None:
    rng = random.Random(9)
    parts = [[rng.randrange(1, 5_000_000) for _ in range(3_000)] for _ in range(4)]
    merged, whole = Histogram(), Histogram()
    for part in parts:
        piece = Histogram()
        for value in part:
            piece.record(value)
            whole.record(value)
        merged.merge(Histogram.from_dict(piece.to_dict()))  # through JSON, as workers send it
    assert merged.to_dict() == whole.to_dict()


def test_empty_histogram() -> None:
    assert Histogram().percentile(99) == 0 and Histogram().mean == 0.0
    assert Histogram().merge(Histogram()).count == 0
