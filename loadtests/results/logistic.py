"""Where windows start to fail: a logistic fit of within/beyond against log(rate), the rate
at which a window is as likely beyond a target as within it (the **halfway rate**), and its
interval by profile likelihood (README, "Capacity at a latency target", which has the
measurements and simulations behind the choices here).

Why within/beyond and not the score's size: near a service's knee a window is bistable.
At one offered rate one 4 s window keeps up (p99 a quarter of the SLO) and the next falls
behind and stays behind (p99 sixteen times it); how far behind says how long the window
lasted, not how far past capacity the rate is. A line through log(score) takes the two
modes as scatter.

The model: P(beyond at rate r) = 1 / (1 + exp(-b (log r - log m))), b >= 0, m the halfway
rate. For each candidate m the slope b that fits best is found (the log likelihood is
concave in b); the m whose best fit is best of all is the estimate. When windows within
and beyond separate completely, every m between the highest within and the lowest beyond
fits perfectly, and the estimate is their geometric middle.

The interval is every m whose best fit is within q / 2 of the best, q = F(1, n - 2) at the
level. Wilks' chi-square(1) is the large-sample reference; with the 15-20 windows of a
search F is a little wider, a heuristic borrowed from Fieller's t (a pass/fail fit has no
scale to estimate) and checked by simulation, not derived. It is searched from half the
lowest rate measured to twice the highest; an end that reaches either is unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.results import stats

# The steepest slope tried, in log-odds per unit of log(rate): a 1% step in rate then
# moves the odds about e^10 (a step function, to the precision of any window). A bound
# for the numbers only; the fit cannot see a steeper knee than its rates are apart.
STEEPEST = 1000.0
# The candidates' spacing, in log(rate): 0.25%, a twentieth of the search's 5% resolution
# (the interval's ends are then found between two candidates by bisection).
GRID = 0.0025
# How far past the rates measured the interval may reach: to half the lowest and twice
# the highest. The model carries it past the last window (a halfway rate above the highest
# rate measured would make its failures unlikely), but not without limit. A choice.
REACH = 2.0


@dataclass(frozen=True)
class Halfway:
    """The halfway rate and its interval; ``low``/``high`` None when that side reaches
    ``REACH`` past the rates measured. ``rate`` None: with ``slope`` 0, the windows do
    not fail more often at higher rates; with a positive one, the best fit lies at
    ``REACH`` itself."""

    rate: float | None
    low: float | None
    high: float | None
    slope: float  # at the estimate, log-odds per unit of log(rate)


def halfway(rates: Sequence[float], beyond: Sequence[bool], level: float = 0.95) -> Halfway:
    """Fit P(beyond) against log(rate); see the module docstring."""
    if len(rates) != len(beyond) or len(rates) < 3 or min(rates) <= 0:
        raise ValueError("a halfway rate needs three or more windows, each at a positive rate")
    logs = [math.log(r) for r in rates]
    signs = [1.0 if b else -1.0 for b in beyond]
    if len(set(beyond)) < 2:  # all within or all beyond: nothing to place
        return Halfway(None, None, None, 0.0)
    first, last = min(logs) - math.log(REACH), max(logs) + math.log(REACH)
    steps = round((last - first) / GRID)
    grid = [first + i * (last - first) / steps for i in range(steps + 1)]
    fits: list[tuple[float, float]] = []
    for centre in grid:  # neighbouring candidates fit alike: start from the last slope
        fits.append(_best(logs, signs, centre, fits[-1][1] if fits else 1.0))
    best = max(likelihood for likelihood, _ in fits)
    top = [i for i, (likelihood, _) in enumerate(fits) if likelihood >= best - 1e-9]
    if all(fits[i][1] == 0.0 for i in top):
        return Halfway(None, None, None, 0.0)
    if top[0] == 0 or top[-1] == steps:
        # The best fit lies at the search's own edge: windows split unevenly with no
        # rise to place them by, not a halfway rate.
        return Halfway(None, None, None, fits[top[0]][1])
    centre = (grid[top[0]] + grid[top[-1]]) / 2
    # F(1, n - 2) rather than chi-square(1): the small-sample reference, as Fieller's t.
    cut = best - stats.t_quantile((1 + level) / 2, max(1, len(rates) - 2)) ** 2 / 2
    inside = [i for i, (likelihood, _) in enumerate(fits) if likelihood >= cut]
    lowest, highest = inside[0], inside[-1]
    low = None if lowest == 0 else _edge(logs, signs, grid[lowest - 1], grid[lowest], cut)
    high = None if highest == steps else _edge(logs, signs, grid[highest + 1], grid[highest], cut)
    return Halfway(
        rate=math.exp(centre),
        low=math.exp(low) if low is not None else None,
        high=math.exp(high) if high is not None else None,
        slope=_best(logs, signs, centre)[1],
    )


def _edge(logs: list[float], signs: list[float], out: float, inside: float, cut: float) -> float:
    """Where the profile crosses ``cut`` between a candidate outside and one inside."""
    for _ in range(30):
        middle = (out + inside) / 2
        if _best(logs, signs, middle)[0] >= cut:
            inside = middle
        else:
            out = middle
    return (out + inside) / 2


def profile(rates: Sequence[float], beyond: Sequence[bool], halfway_rate: float) -> float:
    """The log likelihood of the best fit whose halfway rate is ``halfway_rate``: the
    curve the interval is read from."""
    signs = [1.0 if b else -1.0 for b in beyond]
    return _best([math.log(r) for r in rates], signs, math.log(halfway_rate))[0]


def _best(
    logs: list[float], signs: list[float], centre: float, start: float = 1.0
) -> tuple[float, float]:
    """(log likelihood, slope) of the best fit with its halfway rate at exp(centre): the
    root of the likelihood's derivative in b, which only falls (the log likelihood is
    concave in b), by Newton's method kept inside a shrinking bracket."""
    u = [s * (x - centre) for x, s in zip(logs, signs, strict=True)]

    def slope_of_likelihood(b: float) -> tuple[float, float]:
        first = second = 0.0
        for value in u:
            p = _sigmoid(-b * value)
            first += value * p
            second -= value * value * p * (1 - p)
        return first, second

    if slope_of_likelihood(0.0)[0] <= 0:
        return _likelihood(u, 0.0), 0.0
    if slope_of_likelihood(STEEPEST)[0] >= 0:
        return _likelihood(u, STEEPEST), STEEPEST
    low, high, b = 0.0, STEEPEST, min(max(start, 1e-6), STEEPEST / 2)
    for _ in range(100):
        first, second = slope_of_likelihood(b)
        if first > 0:
            low = b
        else:
            high = b
        newton = b - first / second if second < 0 else math.nan
        after = newton if low < newton < high else (low + high) / 2
        done = abs(after - b) < 1e-10 * max(1.0, b)
        b = after
        if done:
            break
    return _likelihood(u, b), b


def _likelihood(u: list[float], b: float) -> float:
    return sum(_log_sigmoid(b * value) for value in u)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))
