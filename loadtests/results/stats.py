"""Small statistics for few repetitions: Student's t intervals, usually on logarithms.

A run has a handful of rounds (3 to 10), and the noise between rounds on this kind of
machine is multiplicative (the CPU is 10-40% faster or slower), so ratios and
intervals are computed on logs and turned back. With so few values a bootstrap is the
wrong tool: resampling 3 values gives at most 10 distinct means, and a percentile
interval from them covers the true value far less often than it claims (for the
median of 3, the min-max range covers it only 75% of the time). Student's t is exact
for normally distributed logs and states honestly how wide an interval 3 rounds give.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

# Two-sided 95% quantiles of Student's t by degrees of freedom (interpolated between).
_T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021,
    60: 2.000, 120: 1.980,
}  # fmt: skip
_Z95 = 1.960


def t95(degrees: int) -> float:
    if degrees < 1:
        raise ValueError("at least two values are needed for an interval")
    if degrees in _T95:
        return _T95[degrees]
    known = sorted(_T95)
    if degrees > known[-1]:
        return _Z95
    above = next(d for d in known if d > degrees)
    below = max(d for d in known if d < degrees)
    share = (degrees - below) / (above - below)
    return _T95[below] + share * (_T95[above] - _T95[below])


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
    mean with its 95% interval; None when fewer than two pairs are usable."""
    logs = [math.log(v / b) for v, b in zip(values, baselines, strict=True) if v > 0 and b > 0]
    return t_interval(logs, transform=math.exp)


def cv(values: Sequence[float]) -> float | None:
    """Coefficient of variation (sample standard deviation / mean)."""
    if len(values) < 2 or statistics.fmean(values) == 0:
        return None
    return statistics.stdev(values) / statistics.fmean(values)
