"""Verdict rules as data, and the pure functions that judge them.

The articles ran on other machines with other versions, so absolute figures do not
transfer and ratios only roughly do. The rules therefore ask two things of a figure:

- **direction**: a claimed ratio above 1 ("async is 2.3x slower") must have its 95%
  interval (Student's t on the logs of the per-round ratios, ``loadtests/results/stats.py``)
  wholly above 1; a claimed cost must have its interval wholly above 0;
- **size**: the median must lie within a factor of ``TOLERANCE`` (2) of the article's
  figure or range. A factor of 2 keeps the order of magnitude and the direction
  meaningful while forgiving a different CPU; anything further off is a different claim.

A claim is **reproduced** when all its rules pass. Rules tagged with a setting (the
event loop, a SQLAlchemy option) are judged per value of that setting; when the
outcome differs between the values, the claim **depends on** that setting.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from loadtests.report.fmt import show
from loadtests.results import stats
from loadtests.results.claims import CheckResult, Verdict

TOLERANCE = 2.0
UNSTABLE_CV = 0.10  # pyperf's threshold for "unstable" results

Setting = tuple[str, str]  # (what varies, its value): ("event loop", "uvloop")
Values = dict[str, list[float]]  # series key -> one value per round


def _claimed_range(low: float, high: float, unit: str) -> str:
    if low == high:
        return show(low, unit)
    return f"{show(low, unit).split()[0].rstrip('x')}-{show(high, unit)}"


def _interval_text(ci: tuple[float, float, float] | None, unit: str) -> str:
    if ci is None:
        return "one round: no interval"
    return f"95% CI {show(ci[1], unit)} to {show(ci[2], unit)}"


def _spread_text(values: Sequence[float], unit: str) -> str:
    if len(values) < 2:
        return "one round"
    return f"{show(min(values), unit)} to {show(max(values), unit)} over {len(values)} rounds"


def _size_reason(median: float, low: float, high: float) -> tuple[bool, str]:
    if median < low / TOLERANCE:
        return False, f"under 1/{TOLERANCE:g} of the article's figure"
    if median > high * TOLERANCE:
        return False, f"over {TOLERANCE:g}x the article's figure"
    return True, f"within a factor of {TOLERANCE:g} of the article's figure"


def _bounds(claimed: float | tuple[float, float]) -> tuple[float, float]:
    return (claimed, claimed) if isinstance(claimed, int | float) else claimed


def _paired(values: Values, num: str, den: str | None) -> tuple[list[float], list[float]]:
    """The per-round numerators and denominators (1 when the series already is a ratio)."""
    nums = values[num]
    dens = values[den] if den else [1.0] * len(nums)
    rounds = min(len(nums), len(dens))
    return nums[:rounds], dens[:rounds]


def _ratio_stats(
    values: Values, num: str, den: str | None
) -> tuple[float, tuple[float, float, float] | None] | None:
    """The median ratio and its 95% interval (None with one round); None if unmeasured."""
    nums, dens = _paired(values, num, den)
    ratios = [n / d for n, d in zip(nums, dens, strict=True) if n > 0 and d > 0]
    if not ratios:
        return None
    return statistics.median(ratios), stats.log_ratio_interval(nums, dens)


# (as claimed, the opposite, no difference): a ratio is judged against 1, a cost against 0.
RATIO_WORDS = (
    1.0,
    "above 1 as claimed",
    "the opposite: below 1",
    "no significant difference from 1",
)
COST_WORDS = (0.0, "a cost, as claimed", "the opposite: a saving", "no significant cost")


def _beyond(
    rule: Ratio | Difference,
    median: float,
    ci: tuple[float, float, float] | None,
    unit: str,
    words: tuple[float, str, str, str],
) -> CheckResult:
    """A paired figure must have its interval (or, with one round, its median) wholly
    beyond the neutral value on the claimed side, and its median within the tolerance."""
    neutral, claimed_side, opposite, none = words
    low, high = _bounds(rule.claimed)
    if ci[1] > neutral if ci else median > neutral:
        passed, reason = _size_reason(median, low, high)
        reason = f"{claimed_side}; {reason}"
    else:
        passed = False
        below = ci[2] < neutral if ci else median < neutral
        reason = opposite if below else none
    return CheckResult(
        what=rule.what,
        claimed=_claimed_range(low, high, unit),
        measured=f"{show(median, unit)} ({_interval_text(ci, unit)})",
        passed=passed,
        reason=reason,
        setting=rule.setting,
    )


@dataclass(frozen=True)
class Ratio:
    """``num / den`` per round (both measured in the same process, so paired), against
    the article's ratio or range, which is above 1. ``den=None``: ``num`` is a ratio."""

    num: str
    den: str | None
    claimed: float | tuple[float, float]
    what: str
    setting: Setting | None = None

    def keys(self) -> tuple[str, ...]:
        return (self.num, self.den) if self.den else (self.num,)

    def judge(self, values: Values) -> CheckResult:
        found = _ratio_stats(values, self.num, self.den)
        if found is None:
            return _unmeasured(self.what, self.setting)
        median, ci = found
        return _beyond(self, median, ci, "x", RATIO_WORDS)


@dataclass(frozen=True)
class Difference:
    """``a - b`` per round (a cost: what ``a`` adds to ``b``), against the article's cost."""

    a: str
    b: str
    claimed: float | tuple[float, float]
    unit: str
    what: str
    setting: Setting | None = None

    def keys(self) -> tuple[str, ...]:
        return (self.a, self.b)

    def judge(self, values: Values) -> CheckResult:
        diffs = [x - y for x, y in zip(values[self.a], values[self.b], strict=False)]
        if not diffs:
            return _unmeasured(self.what, self.setting)
        return _beyond(
            self, statistics.median(diffs), stats.t_interval(diffs), self.unit, COST_WORDS
        )


class _OneSeries:
    """A rule on one series: "not measured" when no round measured it, else ``rule``'s
    (claimed, measured, passed, reason) on the per-round values."""

    key: str
    what: str
    setting: Setting | None

    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    def rule(self, measured: list[float]) -> tuple[str, str, bool, str]:
        raise NotImplementedError

    def judge(self, values: Values) -> CheckResult:
        measured = values[self.key]
        if not measured:
            return _unmeasured(self.what, self.setting)
        claimed, shown, passed, reason = self.rule(measured)
        return CheckResult(
            what=self.what,
            claimed=claimed,
            measured=shown,
            passed=passed,
            reason=reason,
            setting=self.setting,
        )


def _median_spread(measured: list[float], unit: str) -> str:
    return f"{show(statistics.median(measured), unit)} ({_spread_text(measured, unit)})"


@dataclass(frozen=True)
class Value(_OneSeries):
    """One measured value against the article's figure or range."""

    key: str
    claimed: float | tuple[float, float]
    unit: str
    what: str
    setting: Setting | None = None

    def rule(self, measured: list[float]) -> tuple[str, str, bool, str]:
        low, high = _bounds(self.claimed)
        passed, reason = _size_reason(statistics.median(measured), low, high)
        claimed = _claimed_range(low, high, self.unit)
        return claimed, _median_spread(measured, self.unit), passed, reason


@dataclass(frozen=True)
class AtLeast(_OneSeries):
    """A value that must reach a bound in every round (``claimed``: the article's words
    for it, when the bound is the suite's reading of them)."""

    key: str
    bound: float
    unit: str
    what: str
    claimed: str | None = None
    setting: Setting | None = None

    def rule(self, measured: list[float]) -> tuple[str, str, bool, str]:
        passed = min(measured) >= self.bound
        return (
            self.claimed or f"at least {show(self.bound, self.unit)}",
            _median_spread(measured, self.unit),
            passed,
            "reached in every round" if passed else "below the bound in some round",
        )


@dataclass(frozen=True)
class Within(_OneSeries):
    """A value that must stay inside fixed bounds in every round (no tolerance: the
    bounds are what the claim means, e.g. "fails after the pool timeout")."""

    key: str
    low: float
    high: float
    unit: str
    what: str
    claimed: str
    setting: Setting | None = None

    def rule(self, measured: list[float]) -> tuple[str, str, bool, str]:
        passed = all(self.low <= v <= self.high for v in measured)
        bounds = f"{show(self.low, self.unit)} to {show(self.high, self.unit)}"
        reason = (
            f"{'inside' if passed else 'outside'} {bounds} "
            f"{'in every round' if passed else 'in some round'}"
        )
        return self.claimed, _median_spread(measured, self.unit), passed, reason


@dataclass(frozen=True)
class _Direction:
    """``num / den`` on one side of 1, with no figure claimed (a direction only)."""

    num: str
    den: str
    what: str
    claimed: str
    setting: Setting | None = None
    # (the passing reason, the failing one), set by each direction
    reasons: ClassVar[tuple[str, str]]

    def keys(self) -> tuple[str, ...]:
        return (self.num, self.den)

    def passes(self, median: float, ci: tuple[float, float, float] | None) -> bool:
        raise NotImplementedError

    def judge(self, values: Values) -> CheckResult:
        found = _ratio_stats(values, self.num, self.den)
        if found is None:
            return _unmeasured(self.what, self.setting)
        median, ci = found
        passed = self.passes(median, ci)
        return CheckResult(
            what=self.what,
            claimed=self.claimed,
            measured=f"{show(median, 'x')} ({_interval_text(ci, 'x')})",
            passed=passed,
            reason=self.reasons[0] if passed else self.reasons[1],
            setting=self.setting,
        )


@dataclass(frozen=True)
class Exceeds(_Direction):
    """Significantly above 1."""

    reasons: ClassVar[tuple[str, str]] = ("significantly above 1", "not significantly above 1")

    def passes(self, median: float, ci: tuple[float, float, float] | None) -> bool:
        return ci[1] > 1 if ci else median > 1


@dataclass(frozen=True)
class NotBelow(_Direction):
    """Not significantly below 1: "async is not faster"."""

    reasons: ClassVar[tuple[str, str]] = ("not significantly below 1", "significantly below 1")

    def passes(self, median: float, ci: tuple[float, float, float] | None) -> bool:
        return not (ci[2] < 1 if ci else median < 1)


def _occurrence(values: Sequence[float], unit: str) -> str:
    hits, count = sum(1 for v in values if v > 0), len(values)
    rounds = f"{count} round{'s' * (count > 1)}"
    if unit == "flag":
        return f"yes in {hits} of {rounds}" if hits else f"no, in any of {rounds}"
    return f"{show(statistics.median(values), unit)} (above 0 in {hits} of {rounds})"


@dataclass(frozen=True)
class Happens(_OneSeries):
    """Something the claim says happens (an exception, failures): above 0 in every round
    (``never=True``: 0 in every round, e.g. after the fix)."""

    key: str
    what: str
    claimed: str
    unit: str = "flag"
    never: bool = False
    setting: Setting | None = None

    def rule(self, measured: list[float]) -> tuple[str, str, bool, str]:
        hits = sum(1 for v in measured if v > 0)
        passed = hits == 0 if self.never else hits == len(measured)
        reason = "as claimed in every round" if passed else "not in every round"
        return self.claimed, _occurrence(measured, self.unit), passed, reason


Check = Ratio | Difference | Value | AtLeast | Within | Exceeds | NotBelow | Happens


def _unmeasured(what: str, setting: Setting | None) -> CheckResult:
    return CheckResult(
        what=what,
        claimed="-",
        measured="not measured",
        passed=False,
        reason="no round measured it",
        setting=setting,
    )


def judge(checks: Sequence[Check], values: Values) -> list[CheckResult]:
    return [check.judge(values) for check in checks]


def _named(result: CheckResult) -> str:
    return f"{result.what} [{result.setting[1]}]" if result.setting else result.what


def _outcome(results: Sequence[CheckResult]) -> tuple[bool, str]:
    failed = [r for r in results if not r.passed]
    if not failed:
        return True, "; ".join(f"{_named(r)}: {r.measured}" for r in results)
    return False, "; ".join(f"{_named(r)}: {r.measured}, {r.reason}" for r in failed)


def decide(results: Sequence[CheckResult]) -> Verdict:
    """Reproduced when every rule passes; "depends on X" when the rules of one value of X
    pass and those of another do not (rules without a setting count for every value)."""
    if not results:
        return Verdict(outcome="error", text="error", reason="nothing was judged")
    settings = {r.setting[0] for r in results if r.setting}
    if len(settings) > 1:
        raise ValueError(f"a claim varies one setting at most, got {sorted(settings)}")
    if not settings:
        passed, reason = _outcome(results)
        return _verdict(passed, reason)
    (name,) = settings
    choices = list(dict.fromkeys(r.setting[1] for r in results if r.setting))
    per_choice = {
        choice: _outcome([r for r in results if r.setting in (None, (name, choice))])
        for choice in choices
    }
    held = [choice for choice, (passed, _) in per_choice.items() if passed]
    if len(held) in (0, len(choices)):
        passed, reason = _outcome(results)
        return _verdict(passed, f"with every {name}: {reason}")
    failed = [choice for choice in choices if choice not in held]
    return Verdict(
        outcome="depends",
        text=f"depends on the {name}",
        reason=f"reproduced with {', '.join(held)}; not with {', '.join(failed)} ("
        + per_choice[failed[0]][1]
        + ")",
    )


def _verdict(passed: bool, reason: str) -> Verdict:
    outcome = "reproduced" if passed else "not reproduced"
    return Verdict(outcome=outcome, text=outcome, reason=reason)
