"""The exact Student's t behind blocked comparisons, paired intervals, Holm and power.

Each statistical rule gets a synthetic case that must pass and one that must fail, and
the simulations are seeded, so every number here is deterministic."""

from __future__ import annotations

import math
import random

import pytest

from loadtests.results import stats

SIMULATIONS = 2000


def reference_t_cdf(x: float, df: int) -> float:
    """Student's t CDF from the finite series of Abramowitz & Stegun 26.7.3-4 (integer
    df only): an independent check on the continued fraction, all terms positive."""
    theta = math.atan(x / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:
        term, total = math.sin(theta) * math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= cos2 * (2 * k) / (2 * k + 1)
        central = 2 / math.pi * (theta + total)
    else:
        term, total = math.sin(theta), 0.0
        for k in range(1, df // 2 + 1):
            total += term
            term *= cos2 * (2 * k - 1) / (2 * k)
        central = total
    return (1 + central) / 2


def blocks(rng: random.Random, effect: float, spread: float, count: int) -> list[float]:
    """Per-block log-ratios: a true effect plus normal block-to-block noise."""
    return [effect + rng.gauss(0.0, spread) for _ in range(count)]


def compare(log_ratios: list[float], center: float | None = None) -> stats.Paired:
    found = stats.paired(log_ratios, center=center)
    assert found is not None
    return found


# --- Student's t ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.7062047),
        (0.975, 5, 2.5705818),
        (0.975, 30, 2.0422725),
        (0.975, 7, 2.3646243),
        (0.80, 5, 0.9195438),
        (0.995, 2, 9.9248432),
        (0.025, 10, -2.2281389),
    ],
)
def test_t_quantile_matches_published_values(p: float, df: int, expected: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(expected, abs=1e-6)


def test_t_cdf_matches_published_values() -> None:
    assert stats.t_cdf(2.0, 10) == pytest.approx(0.9633059826, abs=1e-9)
    assert stats.t_cdf(0.0, 3) == 0.5
    assert stats.t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-12)  # Cauchy: 1/2 + atan(1)/pi
    assert stats.t_cdf(math.inf, 4) == 1.0 and stats.t_cdf(-math.inf, 4) == 0.0


@pytest.mark.parametrize("df", [*range(1, 21), 29, 30, 31, 99, 100, 250, 501, 999, 1000])
def test_t_cdf_matches_the_closed_form_series_to_1e_9(df: int) -> None:
    for x in (-40.0, -6.0, -2.5, -1.0, -0.2, 1e-7, 0.5, 1.3, 2.0, 3.5, 8.0, 120.0):
        assert stats.t_cdf(x, df) == pytest.approx(reference_t_cdf(x, df), abs=1e-9), x


def test_a_wrong_reference_would_be_caught() -> None:
    # The series check has teeth: the normal CDF differs from t with df 30 by more than
    # the 1e-9 tolerance (by ~1e-3 at x = 2), and so would a table-interpolated t.
    normal = 0.5 * (1 + math.erf(2.0 / math.sqrt(2)))
    assert abs(stats.t_cdf(2.0, 30) - normal) > 1e-4
    assert abs(stats.t_quantile(0.975, 11) - (2.228 + 2.179) / 2) > 1e-3


def test_t_cdf_is_symmetric_and_closed_forms_hold() -> None:
    for df in (1, 2, 3, 8, 40, 1000):
        for x in (0.1, 1.0, 2.7, 15.0):
            assert stats.t_cdf(-x, df) == pytest.approx(1 - stats.t_cdf(x, df), abs=1e-12)
    for p in (0.01, 0.3, 0.9, 0.999):
        # df 1 is Cauchy, df 2 has an algebraic inverse.
        assert stats.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)
        two = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
        assert stats.t_quantile(p, 2) == pytest.approx(two, rel=1e-9)
        assert stats.t_quantile(1 - p, 6) == pytest.approx(-stats.t_quantile(p, 6), rel=1e-12)


def test_t_quantile_inverts_t_cdf() -> None:
    for df in (1, 2, 5, 7, 30, 1000):
        # Far out on the right the CDF rounds to 1; the left tail keeps every digit.
        for x in (-25.0, -9.0, -3.0, -0.4, 0.0, 0.01, 1.0, 2.2):
            assert stats.t_quantile(stats.t_cdf(x, df), df) == pytest.approx(x, abs=1e-7)
        for p in (1e-10, 0.025, 0.2, 0.5, 0.8, 0.975, 1 - 1e-9):
            assert stats.t_cdf(stats.t_quantile(p, df), df) == pytest.approx(p, rel=1e-9)


def test_t95_is_the_exact_quantile() -> None:
    for df in (1, 2, 7, 11, 121, 10_000):
        assert stats.t95(df) == stats.t_quantile(0.975, df)
    assert stats.t95(11) == pytest.approx(2.2009852, abs=1e-7)
    assert stats.t95(10_000) == pytest.approx(1.9602012, abs=1e-7)


# --- paired comparisons over blocks -----------------------------------------------------


def test_a_15_percent_effect_over_8_blocks_is_significant() -> None:
    found = stats.paired(blocks(random.Random(7), math.log(1.15), 0.05, 8))
    assert found is not None and found.df == 7
    assert found.p < 0.05 and found.low > 0
    assert found.ratio_interval[0] < found.ratio < found.ratio_interval[1]
    assert found.ratio == pytest.approx(1.15, abs=0.05)


def test_an_equal_pair_with_the_same_spread_is_not_significant() -> None:
    found = stats.paired(blocks(random.Random(7), 0.0, 0.05, 8))
    assert found is not None
    assert found.p >= 0.05 and found.low < 0 < found.high


def test_paired_interval_and_p_value_worked_by_hand() -> None:
    # d = 0.1, 0.2, 0.3: mean 0.2, sd 0.1, se 0.1/sqrt(3); t = 2*sqrt(3) with df 2.
    found = stats.paired([0.1, 0.2, 0.3])
    assert found is not None
    se = 0.1 / math.sqrt(3)
    assert found.center == pytest.approx(0.2) and found.se == pytest.approx(se)
    assert found.low == pytest.approx(0.2 - 4.3026527 * se, abs=1e-7)
    assert found.p == pytest.approx(2 * (1 - stats.t_cdf(2 * math.sqrt(3), 2)), rel=1e-9)
    # df 2 has a closed form: two-sided p = 1 - t / sqrt(2 + t^2).
    t = 2 * math.sqrt(3)
    assert found.p == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)


def test_the_interval_is_centred_on_the_pooled_estimate() -> None:
    logs = [0.10, 0.14, 0.12, 0.16, 0.11]
    mean = stats.paired(logs)
    pooled = stats.paired(logs, center=0.13)
    assert mean is not None and pooled is not None
    assert pooled.center == 0.13 and pooled.se == mean.se
    assert pooled.high - pooled.low == pytest.approx(mean.high - mean.low)
    assert pooled.low < pooled.center < pooled.high
    # A pooled estimate of zero is not significant even though the blocks' mean is.
    assert mean.p < 0.05 and compare(logs, center=0.0).p == 1.0


def test_identical_blocks_have_no_standard_error() -> None:
    found = stats.paired([0.2, 0.2, 0.2])
    assert found is not None
    assert found.center == pytest.approx(0.2)
    assert (found.se, found.low, found.high, found.p) == (0.0, found.center, found.center, 0.0)
    nothing = stats.paired([0.0, 0.0])
    assert nothing is not None and nothing.p == 1.0


def test_a_narrower_level_gives_a_narrower_interval() -> None:
    wide = stats.paired([0.1, 0.3, 0.2, 0.25], level=0.99)
    narrow = stats.paired([0.1, 0.3, 0.2, 0.25], level=0.80)
    assert wide is not None and narrow is not None
    assert wide.low < narrow.low < narrow.high < wide.high


def test_the_95_percent_interval_excludes_zero_in_5_percent_of_a_a_experiments() -> None:
    rng = random.Random(11)
    excluded = 0
    normal_excluded = 0  # the same interval with the normal 1.96 instead of t_{.975,5}
    for _ in range(SIMULATIONS):
        found = compare(blocks(rng, 0.0, 0.05, 6))
        excluded += not found.low <= 0 <= found.high
        normal_excluded += abs(found.center) > 1.96 * found.se
    assert 0.035 <= excluded / SIMULATIONS <= 0.065
    # Fails with the normal quantile: 6 blocks make it anticonservative (~10.7%).
    assert normal_excluded / SIMULATIONS > 0.08


# --- Holm ---------------------------------------------------------------------------------


def test_holm_textbook_example() -> None:
    p_values = [0.01, 0.04, 0.03, 0.005]
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06 > 0.05 stops; 0.04*1 = 0.04
    # is raised to 0.06 because a step-down cannot reject after a failure.
    assert stats.holm(p_values) == [True, False, False, True]
    assert stats.holm_adjusted(p_values) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_does_not_reject_what_separate_tests_would() -> None:
    p_values = [0.02, 0.03, 0.04]
    assert all(p < 0.05 for p in p_values)  # each alone is "significant"
    assert stats.holm(p_values) == [False, False, False]
    assert stats.holm(p_values, alpha=0.10) == [True, True, True]


def test_holm_adjusted_values_are_monotone_and_capped() -> None:
    p_values = [0.3, 0.001, 0.8, 0.02, 0.5]
    adjusted = stats.holm_adjusted(p_values)
    by_p = [adjusted[i] for i in sorted(range(5), key=lambda i: p_values[i])]
    assert by_p == sorted(by_p) and max(adjusted) == 1.0
    assert all(a >= p for a, p in zip(adjusted, p_values, strict=True))
    assert stats.holm([]) == [] and stats.holm_adjusted([0.04]) == [0.04]


# --- power --------------------------------------------------------------------------------


def test_detectable_is_two_quantiles_times_the_standard_error() -> None:
    se = 0.05 / math.sqrt(8)
    expected = (stats.t_quantile(0.975, 7) + stats.t_quantile(0.80, 7)) * se
    assert stats.detectable(se, 7) == pytest.approx(expected, rel=1e-12)
    assert stats.detectable(se, 7) == pytest.approx((2.3646243 + 0.8960296) * se, rel=1e-6)
    assert stats.detectable(0.0, 7) == 0.0


def test_an_effect_of_the_detectable_size_is_found_80_percent_of_the_time() -> None:
    spread, count = 0.05, 8
    effect = stats.detectable(spread / math.sqrt(count), count - 1)
    rng = random.Random(3)
    found = half_found = 0
    for _ in range(SIMULATIONS):
        found += compare(blocks(rng, effect, spread, count)).p < 0.05
        half_found += compare(blocks(rng, effect / 2, spread, count)).p < 0.05
    assert 0.74 <= found / SIMULATIONS <= 0.86
    # Fails for half that effect: 8 blocks of 5% noise cannot reliably see it.
    assert half_found / SIMULATIONS < 0.5


# --- bad input ----------------------------------------------------------------------------


def test_fewer_than_two_blocks_give_no_comparison() -> None:
    assert stats.paired([]) is None
    assert stats.paired([0.3]) is None
    assert stats.paired([0.3], center=0.2) is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: stats.paired([0.1, math.nan, 0.2]),
        lambda: stats.paired([0.1, math.inf]),
        lambda: stats.paired([0.1, 0.2], center=math.nan),
        lambda: stats.paired([0.1, 0.2], level=1.0),
        lambda: stats.t_quantile(0.0, 5),
        lambda: stats.t_quantile(1.0, 5),
        lambda: stats.t_quantile(-0.2, 5),
        lambda: stats.t_quantile(1.5, 5),
        lambda: stats.t_quantile(math.nan, 5),
        lambda: stats.t_quantile(0.5, 0),
        lambda: stats.t_cdf(math.nan, 5),
        lambda: stats.t_cdf(1.0, 0),
        lambda: stats.t95(0),
        lambda: stats.holm([0.01, 1.2]),
        lambda: stats.holm([0.01, math.nan]),
        lambda: stats.holm_adjusted([-0.1]),
        lambda: stats.holm([0.01], alpha=0.0),
        lambda: stats.detectable(-0.1, 5),
        lambda: stats.detectable(0.1, 5, power=1.0),
    ],
)
def test_bad_input_is_refused(call) -> None:
    with pytest.raises(ValueError):
        call()
