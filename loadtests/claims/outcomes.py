"""The four outcomes of a rule, decided from a 95% interval, and the choices they use.

A rule's figure is measured once per round (a fresh process); its 95% interval is
Student's t over the rounds, on logarithms for ratios (``loadtests/results/stats.py``).
The interval, never the median alone, decides:

- **reproduced**: the interval lies inside the claim's range, or within ``TOLERANCE``
  of a point claim (2.3x: 1.72x to 2.88x);
- **different size** ("same direction, different size"): the interval is wholly on the
  claimed side of the neutral value (1 for a ratio, 0 for a cost) and wholly outside
  that band;
- **contradicted**: the interval is wholly on the other side of the neutral value;
- **inconclusive**: the interval includes the neutral value, or it is on the claimed
  side but reaches both into and out of the band (the direction holds, the size is not
  settled), or there is one round (no interval: one process cannot tell a difference
  from its noise, so one round never gives a direction).

The choices, stated on the page and in the table:

- ``TOLERANCE`` (±25%): the articles ran other CPUs and versions, so a figure is not
  expected to transfer exactly; a quarter either way still separates "2.3x" from "1.5x".
  (A factor of 2, the older rule, let 1.15x reproduce 2.3x.)
- ``MARGIN`` (10%): "async is not faster" is a non-inferiority claim. It is reproduced
  when the interval rules out async being more than 10% faster (async / sync's lower
  end at least 1 / 1.10). An interval that merely contains 1 proves nothing: with fewer
  rounds it only gets wider.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtests.report.claims_table import interval_text
from loadtests.report.fmt import show
from loadtests.results.claims import RuleOutcome

TOLERANCE = 0.25
MARGIN = 0.10

Judged = tuple[RuleOutcome, str]  # the outcome and why, in words
ONE_ROUND = "one round: no interval, so no direction"


@dataclass(frozen=True)
class Interval:
    """A figure's centre and its 95% interval (``low``/``high`` None with one round)."""

    estimate: float
    low: float | None
    high: float | None
    unit: str

    def text(self) -> str:
        return interval_text(self.estimate, self.low, self.high, self.unit)


def band(claimed: float | tuple[float, float]) -> tuple[float, float]:
    """What reproduces a claim: its range as the article gives it, or a point figure
    within the tolerance."""
    if isinstance(claimed, tuple):
        return claimed
    return claimed * (1 - TOLERANCE), claimed * (1 + TOLERANCE)


def band_text(claimed: float | tuple[float, float], unit: str) -> str:
    low, high = band(claimed)
    span = f"{show(low, unit)} to {show(high, unit)}"
    if isinstance(claimed, tuple):
        return f"the interval inside the article's range, {span}"
    return f"the interval within {span} ({show(claimed, unit)} ±{TOLERANCE:.0%}, a choice)"


def _size(estimate: float, claimed: float | tuple[float, float], unit: str) -> str:
    """How far the measured figure is from the claim, in words."""
    low, high = claimed if isinstance(claimed, tuple) else (claimed, claimed)
    nearest = low if estimate < low else high
    shown = show(nearest, unit)
    if nearest == 0:
        return f"against {shown}"
    share = estimate / nearest
    relative = f"{share:.0%} of {shown}" if share < 1 else f"{share:.1f} times {shown}"
    return f"{show(estimate, unit)}, {relative}"


def banded(found: Interval, claimed: float | tuple[float, float], neutral: float) -> Judged:
    """A figure claimed on one side of ``neutral`` (above it), with a size."""
    if found.low is None or found.high is None:
        return "inconclusive", ONE_ROUND
    low, high = band(claimed)
    at = show(neutral, found.unit)
    if low <= found.low and found.high <= high:
        span = f"{show(low, found.unit)} to {show(high, found.unit)}"
        return "reproduced", f"the interval lies within {span}"
    if found.high < neutral:
        return "contradicted", f"significantly the opposite: the interval lies below {at}"
    if found.low <= neutral:
        return "inconclusive", f"the interval includes {at}: no significant difference"
    size = _size(found.estimate, claimed, found.unit)
    if found.high < low or found.low > high:
        return "different size", f"the claimed direction, a different size: {size}"
    return (
        "inconclusive",
        f"the claimed direction, but the interval reaches outside the band: the size "
        f"is not settled ({size})",
    )


def exceeds(found: Interval) -> Judged:
    """A ratio claimed above 1, with no figure: a direction only."""
    if found.low is None or found.high is None:
        return "inconclusive", ONE_ROUND
    if found.low > 1:
        return "reproduced", "significantly above 1"
    if found.high < 1:
        return "contradicted", "significantly below 1: the opposite"
    return "inconclusive", "the interval includes 1: no significant difference"


def floor(margin: float = MARGIN) -> float:
    """The lowest ratio "not below 1" accepts: 1 / (1 + margin)."""
    return 1 / (1 + margin)


def not_below(found: Interval, margin: float = MARGIN) -> Judged:
    """A ratio claimed not below 1 ("async is not faster"): non-inferiority. The whole
    interval must stay above 1 / (1 + margin), i.e. the reverse ratio's upper end below
    1 + margin."""
    if found.low is None or found.high is None:
        return "inconclusive", ONE_ROUND
    cut = show(floor(margin), "x")
    if found.low >= floor(margin):
        return "reproduced", f"the interval stays above {cut}: not faster beyond the margin"
    if found.high < 1:
        return "contradicted", "significantly below 1: faster"
    return "inconclusive", f"the interval reaches below {cut}: faster is not ruled out"


def margin_text(margin: float = MARGIN) -> str:
    return (
        f"the interval above {show(floor(margin), 'x')} (1 / (1 + {margin:.0%}): "
        "the non-inferiority margin, a choice)"
    )


def counted(hits: int, rounds: int, never: bool = False) -> RuleOutcome:
    """An event (a trap, a bound reached) over the rounds: in every round reproduces it,
    in none contradicts it, in some leaves it open. ``never``: a fix, which must fail in
    no round; one failure contradicts it."""
    if never:
        return "reproduced" if hits == 0 else "contradicted"
    if hits == rounds:
        return "reproduced"
    return "contradicted" if hits == 0 else "inconclusive"
