"""The small statistics behind rounds and the overhead command, on numbers worked by hand,
and the overhead command's refusals."""

from __future__ import annotations

import math

import pytest

from loadtests.cli import build_parser
from loadtests.errors import SuiteError
from loadtests.results import stats
from loadtests.run import overhead


def test_t_interval_matches_a_hand_computed_one() -> None:
    # mean 2, sample sd 1, n 3: half width 4.303 * 1 / sqrt(3) = 2.484
    mean, low, high = stats.t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert low == pytest.approx(2 - 2.4844, abs=1e-3) and high == pytest.approx(
        2 + 2.4844, abs=1e-3
    )
    assert stats.t_interval([5.0]) is None


def test_t_quantiles_are_exact_and_reach_the_normal() -> None:
    assert stats.t95(2) == pytest.approx(4.3026527, abs=1e-7)
    assert stats.t95(11) == pytest.approx(2.2009852, abs=1e-7)  # no longer interpolated
    assert stats.t95(10_000) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError):
        stats.t95(0)


def test_paired_ratios_cancel_a_shared_drift() -> None:
    # The machine is 30% slower in round 2, both variants alike: the ratio stays 2.
    ratio, low, high = stats.log_ratio_interval([200.0, 140.0, 210.0], [100.0, 70.0, 105.0])
    assert ratio == pytest.approx(2.0) and low == pytest.approx(2.0) and high == pytest.approx(2.0)
    # Unpaired, the same drift would make the interval wide.
    assert stats.cv([100.0, 70.0, 105.0]) > 0.15
    # A round without a measurement (0) has no ratio: the caller leaves it out and says so
    # (tests/test_claims.py), the statistics never drop it quietly.
    with pytest.raises(ValueError, match="positive values"):
        stats.log_ratio_interval([0.0, 100.0, 120.0], [100.0, 100.0, 100.0])


def test_overhead_summary_is_a_geometric_mean_with_its_interval() -> None:
    result = overhead.Result("flask", "flask:untimed", "select-update", 50, 15.0)
    for base, other in ((100.0, 97.0), (80.0, 78.0), (120.0, 115.0)):
        result.repetitions.append(overhead.Repetition(base, other, 1000 / base, 1000 / other))
    throughput, low, high = result.summary()
    expected = math.exp(sum(math.log(o / b) for b, o in ((100, 97), (80, 78), (120, 115))) / 3)
    assert throughput == pytest.approx(expected) and low < throughput < high
    cpu, _, _ = result.summary(cpu=True)
    assert cpu == pytest.approx(1 / expected)
    assert "95% CI" in overhead.describe(result)
    swapped = result.repetitions[0].swapped()
    assert (swapped.base_rps, swapped.other_rps) == (97.0, 100.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flask", "nonsense"], "unknown variant"),
        (["flask", "fastapi", "--repeat", "1"], "--repeat must be between 2 and 50"),
        (["flask", "fastapi", "--users", "0"], "--users must be between 1 and 1000"),
        (["flask", "fastapi", "--seconds", "1"], "--seconds must be between 3 and 600"),
        (["flask", "fastapi", "--scenario", "read,write"], "--scenario takes one scenario"),
    ],
)
def test_overhead_refuses_bad_input_before_starting_anything(argv, message) -> None:
    args = build_parser().parse_args(["overhead", *argv])
    with pytest.raises(SuiteError, match=message):
        args.handler(args)
