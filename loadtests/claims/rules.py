"""Verdict rules as data: each names the series it reads, what the article claims, and
judges the per-round values into one of the outcomes of ``outcomes.py``.

Figures (``Ratio``, ``Difference``, ``Value``, ``Exceeds``, ``NotBelow``) are judged on
their 95% interval over the rounds. Events (``Happens``, ``AtLeast``, ``Within``: a
trap that happens, a bound reached) are judged round by round: in every round
reproduces, in none contradicts, in some leaves it inconclusive; a fix that fails in
any round is contradicted.

Every rule may carry a ``setting`` (the event loop, the insert mode: ``verdict.py``
tests whether the claim depends on it) and ``decides=False``, for a figure shown beside
the verdict that does not count in it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from loadtests.claims import outcomes
from loadtests.claims.outcomes import Interval, Judged
from loadtests.report.fmt import show
from loadtests.results import stats
from loadtests.results.claims import CheckResult, Figure

UNSTABLE_CV = 0.10  # pyperf's threshold for "unstable" results

Setting = tuple[str, str]  # (what varies, its value): ("event loop", "uvloop")
Values = dict[str, list[float]]  # series key -> one value per round
Claimed = float | tuple[float, float]  # a point figure, or a range


@dataclass(frozen=True, kw_only=True)
class _Rule:
    setting: Setting | None = None
    decides: bool = True  # False: shown beside the verdict, not counted in it


def _claimed_text(claimed: Claimed, unit: str) -> str:
    if isinstance(claimed, tuple):
        return f"{show(claimed[0], unit)} to {show(claimed[1], unit)}"
    return show(claimed, unit)


def _result(
    rule: _Rule,
    what: str,
    claimed: str,
    measured: str,
    judged: Judged,
    accepted: str,
    figure: Figure | None = None,
) -> CheckResult:
    outcome, reason = judged
    return CheckResult(
        what=what,
        claimed=claimed,
        measured=measured,
        outcome=outcome,
        reason=reason,
        accepted=accepted,
        setting=rule.setting,
        decides=rule.decides,
        figure=figure,
    )


def _unmeasured(rule: _Rule, what: str) -> CheckResult:
    judged: Judged = ("inconclusive", "no round measured it")
    return _result(rule, what, "-", "not measured", judged, "")


def _figure(
    per_round: list[float], found: Interval, log: bool, rounds: list[int] | None = None
) -> Figure:
    return Figure(
        unit=found.unit,
        per_round=per_round,
        rounds=rounds,
        estimate=found.estimate,
        low=found.low,
        high=found.high,
        log=log,
    )


@dataclass(frozen=True)
class _Ratios:
    """``num / den`` per usable round, their geometric mean with its interval, and how
    many rounds had no ratio (a zero on either side: nothing was measured)."""

    per_round: list[float]
    kept: list[int]  # the round of each per_round value
    interval: Interval
    rounds: int

    @property
    def left_out(self) -> int:
        return self.rounds - len(self.kept)

    def judged(self, judged: Judged) -> Judged:
        """The outcome, with its reason naming the rounds left out (they lower the
        degrees of freedom, so the page says so)."""
        outcome, reason = judged
        if not self.left_out:
            return judged
        return outcome, (
            f"{reason}; {self.left_out} of {self.rounds} rounds left out "
            "(a zero measured: no ratio)"
        )


def _ratios(values: Values, num: str, den: str | None) -> _Ratios | None:
    """``num / den`` per round (paired: both measured in one process) and the geometric
    mean with its interval on the logs; None if no round has both."""
    nums = values.get(num, [])
    dens = values.get(den, []) if den else [1.0] * len(nums)
    # A round one series has and the other lacks is left out and counted too.
    kept = [r for r, (n, d) in enumerate(zip(nums, dens, strict=False)) if n > 0 and d > 0]
    if not kept:
        return None
    per_round = [nums[r] / dens[r] for r in kept]
    found = stats.log_ratio_interval([nums[r] for r in kept], [dens[r] for r in kept])
    estimate, low, high = found or (per_round[0], None, None)
    interval = Interval(estimate, low, high, "x")
    return _Ratios(per_round, kept, interval, max(len(nums), len(dens)))


def _ratio_result(
    rule: _Rule,
    what: str,
    claimed: str,
    found: _Ratios,
    judged: Judged,
    accepted: str,
) -> CheckResult:
    kept = found.kept if found.left_out else None  # None: every round, in order
    figure = _figure(found.per_round, found.interval, log=True, rounds=kept)
    return _result(
        rule, what, claimed, found.interval.text(), found.judged(judged), accepted, figure
    )


def _mean(per_round: list[float], unit: str) -> Interval:
    """The mean of per-round values (differences, costs) with its t interval."""
    found = stats.t_interval(per_round)
    if found is None:
        return Interval(per_round[0], None, None, unit)
    return Interval(found[0], found[1], found[2], unit)


@dataclass(frozen=True)
class Ratio(_Rule):
    """``num / den`` per round, against the article's ratio or range (above 1).
    ``den=None``: ``num`` already is a ratio."""

    num: str
    den: str | None
    claimed: Claimed
    what: str

    def keys(self) -> tuple[str, ...]:
        return (self.num, self.den) if self.den else (self.num,)

    def judge(self, values: Values) -> CheckResult:
        found = _ratios(values, self.num, self.den)
        if found is None:
            return _unmeasured(self, self.what)
        return _ratio_result(
            self,
            self.what,
            _claimed_text(self.claimed, "x"),
            found,
            outcomes.banded(found.interval, self.claimed, 1.0),
            outcomes.band_text(self.claimed, "x"),
        )


@dataclass(frozen=True)
class Difference(_Rule):
    """``a - b`` per round (a cost: what ``a`` adds to ``b``), against the article's cost."""

    a: str
    b: str
    claimed: Claimed
    unit: str
    what: str

    def keys(self) -> tuple[str, ...]:
        return (self.a, self.b)

    def judge(self, values: Values) -> CheckResult:
        pairs = zip(values.get(self.a, []), values.get(self.b, []), strict=False)
        per_round = [x - y for x, y in pairs]
        if not per_round:
            return _unmeasured(self, self.what)
        interval = _mean(per_round, self.unit)
        return _result(
            self,
            self.what,
            _claimed_text(self.claimed, self.unit),
            interval.text(),
            outcomes.banded(interval, self.claimed, 0.0),
            outcomes.band_text(self.claimed, self.unit),
            _figure(per_round, interval, log=False),
        )


@dataclass(frozen=True)
class Value(_Rule):
    """One measured value per round (a duration, a cost) against the article's figure
    or range; its direction is against 0."""

    key: str
    claimed: Claimed
    unit: str
    what: str

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def judge(self, values: Values) -> CheckResult:
        per_round = list(values.get(self.key, []))
        if not per_round:
            return _unmeasured(self, self.what)
        interval = _mean(per_round, self.unit)
        return _result(
            self,
            self.what,
            _claimed_text(self.claimed, self.unit),
            interval.text(),
            outcomes.banded(interval, self.claimed, 0.0),
            outcomes.band_text(self.claimed, self.unit),
            _figure(per_round, interval, log=False),
        )


@dataclass(frozen=True)
class Exceeds(_Rule):
    """``num / den`` significantly above 1, with no figure claimed (a direction only)."""

    num: str
    den: str
    what: str
    claimed: str

    def keys(self) -> tuple[str, ...]:
        return (self.num, self.den)

    def judge(self, values: Values) -> CheckResult:
        found = _ratios(values, self.num, self.den)
        if found is None:
            return _unmeasured(self, self.what)
        return _ratio_result(
            self,
            self.what,
            self.claimed,
            found,
            outcomes.exceeds(found.interval),
            "the interval above 1",
        )


@dataclass(frozen=True)
class NotBelow(_Rule):
    """``num / den`` not below 1 ("async is not faster"), judged as non-inferiority
    within ``outcomes.MARGIN``."""

    num: str
    den: str
    what: str
    claimed: str

    def keys(self) -> tuple[str, ...]:
        return (self.num, self.den)

    def judge(self, values: Values) -> CheckResult:
        found = _ratios(values, self.num, self.den)
        if found is None:
            return _unmeasured(self, self.what)
        return _ratio_result(
            self,
            self.what,
            self.claimed,
            found,
            outcomes.not_below(found.interval),
            outcomes.margin_text(),
        )


# --- events -------------------------------------------------------------------------------


def _median_spread(measured: Sequence[float], unit: str) -> str:
    median = show(statistics.median(measured), unit)
    if len(measured) < 2:
        return f"{median} (one round)"
    low, high = show(min(measured), unit), show(max(measured), unit)
    return f"{median} ({low} to {high} over {len(measured)} rounds)"


def _in_rounds(hits: int, rounds: int, what: str) -> str:
    return f"{what} in {hits} of {rounds} round{'s' * (rounds > 1)}"


@dataclass(frozen=True)
class AtLeast(_Rule):
    """A value that must reach a bound in every round (``claimed``: the article's words
    for it, when the bound is the suite's reading of them)."""

    key: str
    bound: float
    unit: str
    what: str
    claimed: str | None = None

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def judge(self, values: Values) -> CheckResult:
        measured = values.get(self.key, [])
        if not measured:
            return _unmeasured(self, self.what)
        hits = sum(1 for v in measured if v >= self.bound)
        bound = f"at least {show(self.bound, self.unit)}"
        return _result(
            self,
            self.what,
            self.claimed or bound,
            _median_spread(measured, self.unit),
            (outcomes.counted(hits, len(measured)), _in_rounds(hits, len(measured), "reached")),
            f"{bound} in every round",
        )


@dataclass(frozen=True)
class Within(_Rule):
    """A value that must stay inside fixed bounds in every round (no tolerance: the
    bounds are what the claim means, e.g. "fails after the pool timeout")."""

    key: str
    low: float
    high: float
    unit: str
    what: str
    claimed: str

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def judge(self, values: Values) -> CheckResult:
        measured = values.get(self.key, [])
        if not measured:
            return _unmeasured(self, self.what)
        hits = sum(1 for v in measured if self.low <= v <= self.high)
        bounds = f"{show(self.low, self.unit)} to {show(self.high, self.unit)}"
        return _result(
            self,
            self.what,
            self.claimed,
            _median_spread(measured, self.unit),
            (
                outcomes.counted(hits, len(measured)),
                _in_rounds(hits, len(measured), f"inside {bounds}"),
            ),
            f"inside {bounds} in every round",
        )


def _occurrence(values: Sequence[float], unit: str) -> str:
    hits, count = sum(1 for v in values if v > 0), len(values)
    rounds = f"{count} round{'s' * (count > 1)}"
    if unit == "flag":
        return f"yes in {hits} of {rounds}" if hits else f"no, in any of {rounds}"
    return f"{show(statistics.median(values), unit)} (above 0 in {hits} of {rounds})"


@dataclass(frozen=True)
class Happens(_Rule):
    """Something the claim says happens (an exception, failures): above 0 in every round.
    ``never=True``: a fix, 0 in every round; failing in any round contradicts it."""

    key: str
    what: str
    claimed: str
    unit: str = "flag"
    never: bool = False

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def judge(self, values: Values) -> CheckResult:
        measured = values.get(self.key, [])
        if not measured:
            return _unmeasured(self, self.what)
        hits, rounds = sum(1 for v in measured if v > 0), len(measured)
        outcome = outcomes.counted(hits, rounds, self.never)
        if self.never:
            reason = _in_rounds(hits, rounds, "the fix failed") if hits else "held in every round"
        else:
            reason = _in_rounds(hits, rounds, "as claimed") if hits else "in no round"
        accepted = "0 in every round" if self.never else "in every round"
        return _result(
            self,
            self.what,
            self.claimed,
            _occurrence(measured, self.unit),
            (outcome, reason),
            accepted,
        )


Check = Ratio | Difference | Value | AtLeast | Within | Exceeds | NotBelow | Happens


def judge(checks: Sequence[Check], values: Values) -> list[CheckResult]:
    return [check.judge(values) for check in checks]
