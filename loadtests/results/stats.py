"""Small statistics for few repetitions: Student's t intervals, usually on logarithms.

A run has a handful of rounds (3 to 10), and the noise between rounds on this kind of
machine is multiplicative (the CPU is 10-40% faster or slower), so ratios and
intervals are computed on logs and turned back. With so few values a bootstrap is the
wrong tool: resampling 3 values gives at most 10 distinct means, and a percentile
interval from them covers the true value far less often than it claims (for the
median of 3, the min-max range covers it only 75% of the time). Student's t is exact
for normally distributed logs and states honestly how wide an interval 3 rounds give.

Interleaved blocks: each of B blocks gives one paired log-ratio d_b per metric. The
estimate shown is pooled (from merged histograms), the block-to-block spread gives its
standard error, and Student's t with B-1 degrees of freedom gives the interval, the
p-value and the smallest effect the design can detect. Several primary comparisons of
one run are tested together with Holm's step-down method, so that running more of them
does not raise the chance of a false claim.

Everything is computed exactly with ``math`` alone (no SciPy in the suite): the t
distribution through the regularized incomplete beta function.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# The continued fraction converges in O(sqrt(df)) terms; these bounds are far beyond that
# (df 1000 needs at most about 40), so hitting them means a bug, not a hard input.
_CF_EPSILON = 1e-16
_CF_TINY = 1e-300
_CF_MAX_TERMS = 10_000
_QUANTILE_MAX_STEPS = 400
_QUANTILE_TOLERANCE = 1e-15  # relative; a few ulps


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (Numerical Recipes' betacf), evaluated with
    the modified Lentz method; it converges fast for x < (a + 1) / (a + b + 2)."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
    fraction = d
    for m in range(1, _CF_MAX_TERMS + 1):
        # Even step, then odd step of the fraction's recurrence.
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _CF_TINY else _CF_TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _CF_TINY else _CF_TINY
            fraction *= c * d
        if abs(c * d - 1.0) < _CF_EPSILON:
            return fraction
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def _beta_regularized(a: float, b: float, x: float, one_minus_x: float) -> float:
    """I_x(a, b). ``one_minus_x`` is passed separately because callers can compute it
    without the cancellation of ``1 - x`` (which would cost all digits near x = 1)."""
    if x <= 0.0:
        return 0.0
    if one_minus_x <= 0.0:
        return 1.0
    log_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log(one_minus_x)
    )
    # The fraction converges on the side below the mean; the other side by symmetry.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, one_minus_x) / b


def _check_df(df: int) -> None:
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, not {df}")


def _t_two_tailed(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom. Computed directly,
    not as 1 - cdf, so small p-values keep their relative precision."""
    if math.isinf(t):
        return 0.0
    squared = t * t
    if math.isinf(squared):
        return 0.0
    return _beta_regularized(df / 2.0, 0.5, df / (df + squared), squared / (df + squared))


def t_cdf(x: float, df: int) -> float:
    """P(T <= x) for Student's t with ``df`` degrees of freedom (exact up to rounding)."""
    _check_df(df)
    if math.isnan(x):
        raise ValueError("t_cdf of nan")
    tail = _t_two_tailed(x, df) / 2.0
    return 1.0 - tail if x > 0 else tail


def _t_pdf(x: float, df: int) -> float:
    log_density = (
        math.lgamma((df + 1) / 2.0)
        - math.lgamma(df / 2.0)
        - 0.5 * math.log(df * math.pi)
        - (df + 1) / 2.0 * math.log1p(x * x / df)
    )
    return math.exp(log_density)


def t_quantile(p: float, df: int) -> float:
    """The x with t_cdf(x, df) == p, for 0 < p < 1 (exact up to rounding)."""
    _check_df(df)
    if not 0.0 < p < 1.0:
        raise ValueError(f"a quantile needs 0 < p < 1, not {p}")
    # Solved on the upper tail so that quantiles far out keep their precision; the
    # subtraction is exact (no rounding in 1 - p for p >= 0.5).
    tail = min(p, 1.0 - p)
    if tail == 0.5:
        return 0.0
    x = _upper_tail_root(tail, df)
    return x if p > 0.5 else -x


# Cached: a simulation or a report asks for the same few quantiles thousands of times.
@functools.lru_cache(maxsize=1024)
def _upper_tail_root(tail: float, df: int) -> float:
    """The x > 0 with P(T > x) == tail, for 0 < tail < 0.5: Newton steps, each kept
    inside a shrinking bracket and replaced by bisection when it would leave it, so it
    converges fast where Newton does and cannot diverge where it does not."""

    def excess(x: float) -> float:
        return _t_two_tailed(x, df) / 2.0 - tail  # decreasing in x

    low, high = 0.0, 1.0
    while excess(high) > 0.0:
        low, high = high, high * 2.0
    x = (low + high) / 2.0
    for _ in range(_QUANTILE_MAX_STEPS):
        value = excess(x)
        if value == 0.0:
            return x
        if value > 0.0:
            low = x
        else:
            high = x
        candidate = x + value / _t_pdf(x, df)
        if not low < candidate < high:
            candidate = (low + high) / 2.0
        if abs(candidate - x) <= _QUANTILE_TOLERANCE * x:
            return candidate
        x = candidate
    return x


def t95(degrees: int) -> float:
    """The two-sided 95% quantile of Student's t (t_{0.975, degrees})."""
    if degrees < 1:
        raise ValueError("at least two values are needed for an interval")
    return t_quantile(0.975, degrees)


def t_interval(
    values: Sequence[float], transform: Callable[[float], float] = lambda x: x
) -> tuple[float, float, float] | None:
    """(mean, low, high) of a 95% interval for the mean of ``values``, each passed
    through ``transform`` (``math.exp`` for values that are logs). None for fewer than
    two values."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return transform(mean), transform(mean - half), transform(mean + half)


def log_ratio_interval(
    values: Sequence[float], baselines: Sequence[float]
) -> tuple[float, float, float] | None:
    """The ratio values/baselines of paired measurements (same round), as a geometric
    mean with its 95% interval; None for fewer than two pairs. Every value must be
    positive: leaving a round out is the caller's decision, and the caller says so."""
    if not all(v > 0 and b > 0 for v, b in zip(values, baselines, strict=True)):
        raise ValueError("a ratio needs positive values on both sides")
    logs = [math.log(v / b) for v, b in zip(values, baselines, strict=True)]
    return t_interval(logs, transform=math.exp)


def geometric_mean(values: Sequence[float]) -> float:
    """exp(mean(log v)) of positive values; 0 for none."""
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else 0.0


def cv(values: Sequence[float]) -> float | None:
    """Coefficient of variation (sample standard deviation / mean)."""
    if len(values) < 2 or statistics.fmean(values) == 0:
        return None
    return statistics.stdev(values) / statistics.fmean(values)


@dataclass(frozen=True)
class Paired:
    """A paired comparison over blocks, in log units: ``center`` is the log-ratio shown
    (usually pooled), ``se`` its standard error from the block-to-block spread, ``df``
    the blocks less one, ``low``/``high`` the interval at ``level`` and ``p`` the
    two-sided p-value of center / se."""

    center: float
    se: float
    df: int
    low: float
    high: float
    p: float
    level: float

    @property
    def ratio(self) -> float:
        return math.exp(self.center)

    @property
    def ratio_interval(self) -> tuple[float, float]:
        return math.exp(self.low), math.exp(self.high)


def paired(
    log_ratios: Sequence[float], center: float | None = None, level: float = 0.95
) -> Paired | None:
    """The interval and p-value of a paired comparison from per-block log-ratios.

    The spread of ``log_ratios`` gives the standard error; the interval is centred on
    ``center`` (the pooled estimate, which is what the report states, so the stated
    factor always lies inside its interval), or on their mean when not given. None for
    fewer than two blocks: one block has no spread to estimate an error from."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"the interval's level must be between 0 and 1, not {level}")
    if not all(math.isfinite(d) for d in log_ratios):
        raise ValueError("log-ratios must be finite (a zero or missing measurement?)")
    if center is not None and not math.isfinite(center):
        raise ValueError(f"the centre must be finite, not {center}")
    if len(log_ratios) < 2:
        return None
    middle = statistics.fmean(log_ratios) if center is None else center
    df = len(log_ratios) - 1
    se = statistics.stdev(log_ratios) / math.sqrt(len(log_ratios))
    if se == 0.0:
        # Identical blocks: no noise seen, so any non-zero effect is certain.
        return Paired(middle, 0.0, df, middle, middle, 0.0 if middle else 1.0, level)
    half = t_quantile((1.0 + level) / 2.0, df) * se
    p = _t_two_tailed(middle / se, df)
    return Paired(middle, se, df, middle - half, middle + half, p, level)


def _check_p_values(p_values: Sequence[float]) -> None:
    if not all(0.0 <= p <= 1.0 for p in p_values):  # also false for nan
        raise ValueError(f"p-values must lie in [0, 1]: {list(p_values)}")


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values in input order: the k-th smallest (from 0) of m is
    multiplied by m - k, made monotone (never below an earlier one) and capped at 1.
    A comparison is rejected at family-wise level alpha when its value is <= alpha."""
    _check_p_values(p_values)
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        # Step-down: a comparison can only be rejected if all smaller ones are.
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Which comparisons Holm's step-down method rejects at family-wise error ``alpha``
    (in input order). Uniformly more powerful than Bonferroni, with no assumption about
    how the comparisons depend on each other (they share blocks, so they do)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    # Through the adjusted values, so the two functions can never disagree.
    return [adjusted <= alpha for adjusted in holm_adjusted(p_values)]


def detectable(se: float, df: int, alpha: float = 0.05, power: float = 0.80) -> float:
    """The smallest |log-ratio| a two-sided test at ``alpha`` detects with ``power``,
    given the standard error and degrees of freedom of the design. It tells a reader
    whether "no significant difference" means "no difference" or "too few blocks to
    see one". (The usual shifted-central-t approximation of the noncentral t.)"""
    if not (math.isfinite(se) and se >= 0.0):
        raise ValueError(f"the standard error must be finite and >= 0, not {se}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    return (t_quantile(1.0 - alpha / 2.0, df) + t_quantile(power, df)) * se


def welch(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The two-sided p-value of mean(a) - mean(b) for two independent samples, by Welch's
    t (unequal variances, Welch-Satterthwaite degrees of freedom). None with fewer than
    two values on a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    difference = statistics.fmean(a) - statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return 1.0 if difference == 0 else 0.0
    df_real = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    df = max(1, math.floor(df_real))  # conservative: the t tables here take whole degrees
    return _t_two_tailed(abs(difference) / se, df)
