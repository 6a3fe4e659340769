"""Each variant against the baseline: one estimate, one interval, and which comparisons
are verdicts.

- **The estimate** is the ratio of the pooled figures (every block's window merged: exact
  pooled percentiles, throughput over the measured seconds). The same number is the
  factor in every sentence.
- **The interval and the test** come from the blocks: per block, the log of the
  variant's value over the baseline's in the same block (seconds apart, so the machine's
  drift cancels); Student's t with blocks - 1 degrees of freedom on their mean gives the
  95% interval of the typical block-by-block ratio and the p-value. The interval is
  deliberately not re-centred on the pooled estimate: a pooled p99 is dominated by the
  blocks with the worst tails and varies more than the blocks' spread says, so an
  interval of that spread around it would claim more than the data show (A/A runs here
  called differences between identical variants that way). A block in which either
  value is missing or zero is left out, and the comparison says how many were.
  Student's t rather than a rank-based interval: with 4 to 10 blocks a signed-rank
  interval can only reach a handful of confidence levels (with 6 blocks, 97% or 84%, not
  95%), and the per-block log-ratios of this design are close to normal.
- **Primary comparisons** are declared per scenario before looking at the data: each
  variant against the baseline on throughput at the highest step and on p99 at every
  step. Their family-wise error is held at ``ALPHA`` with Holm's method; only they can be
  called better or worse. Everything else (p50, p95, the error rate, throughput at the
  lower steps) is exploratory: shown with its interval, never coloured as a verdict.
- **Power**: the smallest ratio each comparison would detect 4 times in 5 at its own
  block-to-block spread.

``ALPHA``, the power and ``FAILING_RATE`` are choices, not measurements.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace

from loadtests.results import stats
from loadtests.results.analysis import METRICS, Cell, Grid, common_users

ALPHA = 0.05  # a choice: the family-wise error of a scenario's primary comparisons
POWER = 0.80  # a choice: "detectable" means found 4 times in 5
FAILING_RATE = 0.01  # a choice: from 1% failed requests a step cannot win
PRIMARY = (("throughput", "highest"), ("p99", "every"))  # (metric, which steps)


@dataclass(frozen=True)
class Comparison:
    """One variant against the baseline on one metric at one step. Multiplicative
    metrics compare as ratios (``paired`` in log units), the error rate as a difference."""

    variant: str
    metric: str
    users: int
    value: float
    baseline: float
    paired: stats.Paired | None  # None: no interval (fewer than 2 blocks, or not comparable)
    pairs: int  # blocks compared
    dropped: int  # blocks left out: a missing or zero value on either side
    primary: bool
    note: str = ""  # why it is not compared; empty when it is
    p_adjusted: float | None = None  # Holm, primary comparisons only
    pooled: float | None = None  # the pooled estimate: log-ratio (or difference)

    @property
    def multiplicative(self) -> bool:
        return METRICS[self.metric].multiplicative

    @property
    def comparable(self) -> bool:
        return not self.note

    @property
    def ratio(self) -> float | None:
        if not self.comparable or not self.multiplicative:
            return None
        return self.value / self.baseline

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% interval: of the ratio, or of the difference (error rates)."""
        if self.paired is None:
            return None
        if self.multiplicative:
            return self.paired.ratio_interval
        return self.paired.low, self.paired.high

    @property
    def significant(self) -> bool:
        """A verdict: a primary comparison whose Holm-adjusted p-value is below ALPHA."""
        return self.primary and self.p_adjusted is not None and self.p_adjusted < ALPHA

    @property
    def excludes_neutral(self) -> bool:
        """Its own interval excludes no difference (not a verdict when exploratory)."""
        return self.paired is not None and self.paired.p < ALPHA

    @property
    def better(self) -> bool | None:
        """True or False for a significant primary comparison; None otherwise."""
        if not self.significant or self.paired is None:
            return None
        lower = self.paired.center < 0
        return lower if METRICS[self.metric].lower_is_better else not lower

    @property
    def detectable(self) -> float | None:
        """The smallest ratio (multiplicative) or difference this comparison would detect
        with ``POWER`` at two-sided ALPHA, from its own spread."""
        if self.paired is None or self.paired.se <= 0:
            return None
        shift = stats.detectable(self.paired.se, self.paired.df, ALPHA, POWER)
        return math.exp(shift) if self.multiplicative else shift


def compare(cell: Cell, base: Cell, metric: str, primary: bool = False) -> Comparison:
    spec = METRICS[metric]
    value, baseline = cell.value(metric), base.value(metric)
    ours, theirs = cell.replicates(metric), base.replicates(metric)
    keys = sorted(set(ours) | set(theirs))
    found = Comparison(cell.variant, metric, cell.users, value, baseline, None, 0, 0, primary)
    failing = [c for c in (cell, base) if c.value("error_rate") >= FAILING_RATE]
    if spec.multiplicative and failing:
        rate = failing[0].value("error_rate")
        return replace(found, note=f"not compared: {rate:.1%} errors")
    dropping = [c.step.open for c in (cell, base) if c.step.open is not None]
    if spec.multiplicative and any(o.dropped_rate >= FAILING_RATE for o in dropping):
        rate = max(o.dropped_rate for o in dropping)
        return replace(found, note=f"not compared: {rate:.1%} of arrivals dropped")
    if spec.multiplicative and (value <= 0 or baseline <= 0):
        return replace(found, note="nothing completed")
    if spec.multiplicative:
        usable = [k for k in keys if ours.get(k, 0) > 0 and theirs.get(k, 0) > 0]
        diffs = [math.log(ours[k] / theirs[k]) for k in usable]
        center = math.log(value / baseline)
    else:
        usable = [k for k in keys if k in ours and k in theirs]
        diffs = [ours[k] - theirs[k] for k in usable]
        center = value - baseline
    paired = stats.paired(diffs) if len(diffs) >= 2 else None
    dropped = len(keys) - len(usable)
    return replace(found, paired=paired, pairs=len(usable), dropped=dropped, pooled=center)


def scenario_comparisons(cells: Grid) -> list[Comparison]:
    """Every variant against the baseline, every metric, every common step; the primary
    comparisons Holm-adjusted together."""
    if len(cells) < 2:
        return []
    steps = common_users(cells)
    baseline, *others = cells
    found = []
    for users in steps:
        for variant in others:
            for metric in METRICS:
                primary = is_primary(metric, users, steps)
                found.append(
                    compare(cells[variant][users], cells[baseline][users], metric, primary)
                )
    return _holm(found)


def is_primary(metric: str, users: int, steps: list[int]) -> bool:
    return any(metric == m and (which == "every" or users == max(steps)) for m, which in PRIMARY)


def _holm(found: list[Comparison]) -> list[Comparison]:
    """Holm-adjust the primary comparisons together; one without an interval counts in the
    family with p = 1 (it can only make the others harder to call, never easier)."""
    family = [i for i, c in enumerate(found) if c.primary]
    p_values = [_p(found[i]) for i in family]
    adjusted = stats.holm_adjusted(p_values) if p_values else []
    result = list(found)
    for index, value in zip(family, adjusted, strict=True):
        result[index] = replace(found[index], p_adjusted=value)
    return result


def _p(comparison: Comparison) -> float:
    paired = comparison.paired
    return paired.p if paired is not None and comparison.comparable else 1.0


@dataclass(frozen=True)
class Power:
    """Per metric: the median over its comparisons of the smallest difference detectable."""

    metric: str
    detectable: float  # ratio (multiplicative) or difference
    comparisons: int
    primary: bool  # over the primary comparisons (else over every one of the metric)


def power(comparisons: list[Comparison]) -> list[Power]:
    """The metrics' detectable differences: over the primary comparisons where the metric
    has some, else over all of its comparisons."""
    found = []
    for metric in METRICS:
        mine = [c for c in comparisons if c.metric == metric and c.detectable is not None]
        primary = [c for c in mine if c.primary]
        chosen = primary or mine
        values = [c.detectable for c in chosen if c.detectable is not None]
        if values:
            found.append(Power(metric, statistics.median(values), len(values), bool(primary)))
    return found


def family_size(comparisons: list[Comparison]) -> int:
    return sum(c.primary for c in comparisons)
