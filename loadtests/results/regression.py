"""``check --baseline RUN``: has a run got worse than a baseline run? (README, "A gate for
CI: check").

A metric **regresses** at a cell (scenario, variant, step) when the run is worse than the
baseline by more than the metric's tolerance (``TOLERANCES``: chosen, not measured) **and**
the difference is significant. The two runs are independent, so the test is unpaired:
Welch's t on the logarithms of the per-block values of each run (on the rates themselves
for errors), and Holm's method over every cell and metric checked, so that a gate over
dozens of cells does not fail by chance. Without at least two blocks on each side a cell
cannot be tested, and says so.

Runs that measured different things (scenarios, steps, model, variants) are refused;
runs from different machines or with different settings are compared with a warning that
lists what differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from loadtests.errors import SuiteError
from loadtests.results import stats
from loadtests.results.analysis import METRICS, Metric
from loadtests.results.comparisons import ALPHA
from loadtests.results.models import Plan, RunResults, Step


@dataclass(frozen=True)
class Tolerance:
    metric: str
    words: str
    limit: float  # relative (0.20 = 20% worse), or absolute points for a rate
    spec: Metric  # how it is read, which way is worse, ratio or difference

    @property
    def relative(self) -> bool:
        return self.spec.multiplicative


# Chosen defaults: throughput may drop 10%, latency rise 20%, errors rise 1 point.
TOLERANCES: dict[str, Tolerance] = {
    t.metric: t
    for t in (
        Tolerance("rps", "throughput", 0.10, METRICS["throughput"]),
        Tolerance("p50", "p50 latency", 0.20, METRICS["p50"]),
        Tolerance("p95", "p95 latency", 0.20, METRICS["p95"]),
        Tolerance("p99", "p99 latency", 0.20, METRICS["p99"]),
        Tolerance("errors", "error rate", 0.01, METRICS["error_rate"]),
    )
}
MOMENTARY = {"load_average_at_start"}  # the machine's state, not the machine: not compared


@dataclass
class Change:
    """One metric at one cell, run against baseline."""

    scenario: str
    variant: str
    step: int
    unit: str
    tolerance: Tolerance
    value: float
    baseline: float
    p_value: float | None  # None: too few blocks to test
    p_adjusted: float | None = None

    @property
    def change(self) -> float:
        """Relative (ratio - 1) or absolute (points), worse positive."""
        t = self.tolerance
        if not t.relative:
            return self.value - self.baseline
        if self.baseline <= 0:
            return 0.0
        ratio = self.value / self.baseline
        return ratio - 1 if t.spec.lower_is_better else (1 / ratio - 1 if ratio > 0 else math.inf)

    @property
    def beyond_tolerance(self) -> bool:
        return self.change > self.tolerance.limit

    @property
    def regressed(self) -> bool:
        return self.beyond_tolerance and self.p_adjusted is not None and self.p_adjusted < ALPHA

    def line(self, labels: dict[str, str]) -> str:
        t = self.tolerance
        where = (
            f"{self.scenario} · {labels.get(self.variant, self.variant)} · {self.step} {self.unit}"
        )
        if t.relative:
            shown = f"{_fmt(t, self.value)} against {_fmt(t, self.baseline)}"
            change = f"{self.change:+.1%} worse" if self.change > 0 else "no worse"
            limit = f"tolerance {t.limit:.0%}"
        else:
            shown = f"{self.value:.2%} against {self.baseline:.2%}"
            change = f"{self.change * 100:+.2f} points"
            limit = f"tolerance {t.limit * 100:g} point(s)"
        test = (
            f"p = {self.p_adjusted:.3g} (Holm)" if self.p_adjusted is not None
            else "not testable: fewer than 2 blocks"
        )  # fmt: skip
        verdict = "FAIL" if self.regressed else "ok  "
        return f"{verdict} {where}: {t.words} {shown} ({change}, {limit}; {test})"


def _fmt(t: Tolerance, value: float) -> str:
    return f"{value:,.1f} {t.spec.unit}"


# The plan's fields that define what was measured: a difference there refuses the runs;
# in the plan's other fields (how it was measured), it is a warning.
_MEASURED = ("steps", "model")


def comparable(run: RunResults, baseline: RunResults) -> list[str]:
    """What differs without making the runs incomparable (warnings); SuiteError for what
    does."""
    if set(run.scenarios) != set(baseline.scenarios):
        raise SuiteError(
            f"not comparable: the run measured {sorted(run.scenarios)}, the baseline "
            f"{sorted(baseline.scenarios)}"
        )
    for name, ours in run.scenarios.items():
        theirs = baseline.scenarios[name]
        measured: tuple[tuple[str, object, object], ...] = (
            *((what, getattr(ours.plan, what), getattr(theirs.plan, what)) for what in _MEASURED),
            ("variants", sorted(ours.variants), sorted(theirs.variants)),
        )
        for what, mine, other in measured:
            if mine != other:
                raise SuiteError(
                    f"not comparable: {name}'s {what} are {mine} here, {other} in the baseline"
                )
    found = [
        f"{name}: the database was not reset {where} ({scenario.reset_refused}), so its data "
        "was not the seed's"
        for where, results in (("here", run), ("in the baseline", baseline))
        for name, scenario in results.scenarios.items()
        if scenario.reset_refused
    ]
    machine, other_machine = (
        {k: v for k, v in m.items() if k not in MOMENTARY}
        for m in (run.environment.machine, baseline.environment.machine)
    )
    found += _differences("machine ", machine, other_machine)
    for name, ours in run.scenarios.items():
        found += _differences(f"{name} ", _how(ours.plan), _how(baseline.scenarios[name].plan))
    found += _differences("", _generator(run), _generator(baseline))
    for name, info in run.variants.items():
        other_info = baseline.variants.get(name)
        if other_info is not None:
            found += _differences(f"{name} ", info.settings, other_info.settings)
    versions = run.environment.versions.model_dump()
    return found + _differences("", versions, baseline.environment.versions.model_dump())


def _how(plan: Plan) -> dict[str, Any]:
    """How a scenario was measured (windows, blocks, warm-ups, arrivals): a difference
    changes the figures without making them incomparable."""
    return {k: v for k, v in plan.model_dump().items() if k not in _MEASURED}


def _generator(results: RunResults) -> dict[str, Any]:
    return {
        "Locust processes": results.run.locust_processes,
        "connections": results.run.connections,
    }


def _differences(prefix: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    return [
        f"{prefix}{key}: {ours.get(key)} here, {theirs.get(key)} in the baseline"
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    ]


def changes(
    run: RunResults, baseline: RunResults, tolerances: dict[str, Tolerance]
) -> list[Change]:
    """Every metric at every cell both runs measured, tested and Holm-adjusted."""
    found: list[Change] = []
    for name, scenario in run.scenarios.items():
        theirs = {r.variant: r for r in baseline.scenarios[name].runs}
        for outcome in scenario.runs:
            other = theirs.get(outcome.variant)
            if other is None:
                continue
            steps = {s.users: s for s in other.steps}
            for step in outcome.steps:
                base = steps.get(step.users)
                if base is None:
                    continue
                for t in tolerances.values():
                    found.append(_change(name, outcome.variant, step, base, t, scenario.plan.unit))
    tested = [c for c in found if c.p_value is not None]
    adjusted = stats.holm_adjusted([c.p_value or 0.0 for c in tested])
    for change, p in zip(tested, adjusted, strict=True):
        change.p_adjusted = p
    return found


def _change(scenario: str, variant: str, step: Step, base: Step, t: Tolerance, unit: str) -> Change:
    value, baseline = t.spec.pick(step), t.spec.pick(base)
    ours = [t.spec.pick_block(b) for b in step.blocks]
    theirs = [t.spec.pick_block(b) for b in base.blocks]
    if t.relative:
        ours = [math.log(v) for v in ours if v > 0]
        theirs = [math.log(v) for v in theirs if v > 0]
    return Change(
        scenario, variant, step.users, unit, t, value, baseline, stats.welch(ours, theirs)
    )


def tolerances_with(overrides: dict[str, Any]) -> dict[str, Tolerance]:
    """The defaults with ``{metric: limit}`` replaced (a share, e.g. 0.05)."""
    found = dict(TOLERANCES)
    for metric, limit in overrides.items():
        if metric not in found:
            raise SuiteError(
                f"unknown metric '{metric}' for a tolerance (known: {', '.join(found)})"
            )
        found[metric] = replace(found[metric], limit=float(limit))
    return found
