"""The report's fault section: per variant, what the injected fault did
(loadtests/run/extras/faults.py).

A timeline of successes and failures per second around the fault, the seconds to the
first failure and to recovery, the requests lost, and a headline that says which variant
recovered faster. Every figure is whole seconds (the per-second series); two variants
within a second of each other recovered equally fast as far as the run can tell. With
several rounds the headline takes each variant's median.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from loadtests.report import fmt
from loadtests.results.models import (
    FaultOutcome,
    FaultPlan,
    ScenarioResults,
    TimePoint,
    VariantRun,
)

BEFORE_S = 10  # seconds of the timeline before the fault starts
AFTER_S = 10  # and after the last variant recovered (or the database came back)
FAILED_DASH = [4, 3]


def rows(scenario: ScenarioResults) -> list[VariantRun]:
    return [run for run in scenario.runs if run.fault is not None]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def headline(fault: FaultPlan, scenario: ScenarioResults, labels: dict[str, str]) -> str | None:
    """Which variant recovered faster, and how many requests each lost (failed)."""
    runs = rows(scenario)
    if not runs:
        return None
    parts, recovered = [], {}
    for variant in scenario.variants:
        outcomes = [r.fault for r in runs if r.variant == variant and r.fault is not None]
        happened = [o for o in outcomes if o.started_at is not None and o.ended_at is not None]
        if not happened:
            continue
        back = [o.recovered_after_s for o in happened if o.recovered_after_s is not None]
        failed = _median([o.failed_requests for o in happened])
        # A variant that failed to recover in any round counts as not recovered.
        recovered[variant] = _median(back) if len(back) == len(happened) else None
        when = (
            f"recovered {fmt.number(recovered[variant])} s after the database was back"
            if recovered[variant] is not None
            else "did not recover within the run"
        )
        parts.append(f"{labels[variant]} {when} and {fmt.number(failed)} of its requests failed")
    if not parts:
        return None
    users = runs[0].fault.users if runs[0].fault else None
    sentence = (
        f"With the database unavailable ({fault.kind}, {fault.seconds:g} s at step "
        f"{fault.step}{f', {users} users' if users else ''}): " + "; ".join(parts) + "."
    )
    return sentence + _faster(recovered, labels)


def _faster(recovered: dict[str, float | None], labels: dict[str, str]) -> str:
    """The variant that recovered more than a second before every other (one that never
    recovered is slower than any that did)."""
    if len(recovered) < 2:
        return ""
    ordered = sorted(recovered.items(), key=lambda item: math.inf if item[1] is None else item[1])
    (best, fastest), (_, runner_up) = ordered[0], ordered[1]
    if fastest is None:
        return ""
    if runner_up is not None and runner_up - fastest <= 1:
        return " They recovered equally fast, as far as whole seconds can tell."
    return f" {labels[best]} recovered fastest."


def timeline(
    chart_id: str,
    scenario: ScenarioResults,
    labels: dict[str, str],
    colors: dict[str, str],
) -> dict[str, Any] | None:
    """Successes (solid) and failures (dashed) per second, from the fault's start (round 1)."""
    runs = [r for r in rows(scenario) if r.round == 1 and r.fault and r.fault.started_at]
    if not runs:
        return None
    spans = {r.variant: _span(r.fault) for r in runs if r.fault is not None}
    first = -BEFORE_S
    last = max(end for end in spans.values())
    seconds = list(range(first, last + 1))
    series = []
    for run in runs:
        assert run.fault is not None and run.fault.started_at is not None
        start = int(run.fault.started_at)
        by_offset = {p.epoch - start: p for p in run.timeseries}
        # A second without a response inside the run (a frozen database) is 0, not a gap.
        inside = range(min(by_offset, default=0), max(by_offset, default=-1) + 1)
        lines: tuple[tuple[str, Callable[[TimePoint], int], list[int]], ...] = (
            ("ok/s", lambda p: p.requests - p.errors, []),
            ("failed/s", lambda p: p.errors, FAILED_DASH),
        )
        for label, pick, dash in lines:
            values = [
                pick(by_offset[t]) if t in by_offset else (0 if t in inside else None)
                for t in seconds
            ]
            series.append(
                {
                    "label": f"{labels[run.variant]} {label}",
                    "color": colors[run.variant],
                    "dash": dash,
                    "values": values,
                }
            )
    back = max(round(r.fault.unavailable_s or 0) for r in runs if r.fault is not None)
    return {
        "id": f"{chart_id}-fault",
        "title": f"Around the fault: successful (solid) and failed (dashed) responses per second "
        f"(round 1; the database is back at about +{back} s)",
        "x": {"label": "seconds since the fault began", "values": seconds, "log": False},
        "y": {"label": "responses per second", "log": False},
        "series": series,
    }


def _span(outcome: FaultOutcome) -> int:
    """The last second of the timeline for one variant, counted from the fault's start."""
    assert outcome.started_at is not None and outcome.ended_at is not None
    back = int(outcome.ended_at) - int(outcome.started_at)
    return back + (outcome.recovered_after_s or 0) + AFTER_S


def summary(found: FaultOutcome) -> str:
    """One line for the terminal."""
    head = f"fault {found.kind} ({found.seconds:g} s at step {found.step})"
    if found.started_at is None or found.ended_at is None:
        return f"{head}: {found.note or 'not injected'}"
    first = (
        "no failed response"
        if found.first_error_after_s is None
        else f"first failure in second +{found.first_error_after_s}"
    )
    back = (
        "not recovered within the run"
        if found.recovered_after_s is None
        else f"recovered {found.recovered_after_s} s after the database was back"
    )
    note = f" ({found.note})" if found.note else ""
    return f"{head}: {first}, {back}, {found.failed_requests:,} requests failed{note}"
