"""Where the time goes, in words and bars: the attribution of each step (mean request
and slowest 1%), the sentence for each variant's worst step, and the explanation of the
biggest tail gap against the baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtests.report import fmt
from loadtests.results.analysis import Cell, Grid, common_users
from loadtests.results.models import Components, Step

# Stacked in this order; "app" itself is the sum of the last four.
SEGMENTS = ("queue", "pool", "db", "orm", "other")
WORDS = {
    "queue": "waiting to be served (before the application saw the request)",
    "pool": "waiting for a pooled connection",
    "db": "in the database driver's round trips",
    "orm": "in SQLAlchemy around the driver",
    "other": "in the application's own code (framework, validation, serialisation)",
}
SHORT = {"queue": "queue", "pool": "pool", "db": "db", "orm": "orm", "other": "app code"}
COLORS = {
    "queue": "#adb5bd",
    "pool": "#f03e3e",
    "db": "#1c7ed6",
    "orm": "#f59f00",
    "other": "#37b24d",
}


@dataclass(frozen=True)
class Bar:
    label: str
    total_ms: float
    segments: list[dict[str, Any]]  # name, ms, percent

    @property
    def largest(self) -> dict[str, Any]:
        return max(self.segments, key=lambda s: s["ms"])


def bar(label: str, components: Components) -> Bar:
    total = components.total
    return Bar(
        label=label,
        total_ms=total,
        segments=[
            {
                "name": name,
                "ms": getattr(components, name),
                "percent": 100 * getattr(components, name) / total if total > 0 else 0,
                "color": COLORS[name],
                "short": SHORT[name],
            }
            for name in SEGMENTS
        ],
    )


def largest_at_tail(step: Step) -> str:
    """``"pool 82%"``: the component that took most of the slowest 1%, or why none."""
    breakdown = step.attribution
    if breakdown is None:
        return "-"
    if breakdown.tail is None:
        return "untimed"
    top = bar("", breakdown.tail).largest
    return f"{top['short']} {top['percent']:.0f}%"


def rows(cells: Grid) -> list[dict[str, Any]]:
    """Per step and variant (its median round): the mean and the tail as bars."""
    found = []
    for users in sorted({u for steps in cells.values() for u in steps}):
        for variant, steps in cells.items():
            cell = steps.get(users)
            breakdown = cell.step.attribution if cell else None
            if cell is None:
                continue
            entry: dict[str, Any] = {"users": users, "variant": variant, "breakdown": breakdown}
            if breakdown is not None and breakdown.mean is not None:
                entry["mean"] = bar("mean request", breakdown.mean)
                if breakdown.tail is not None:
                    entry["tail"] = bar(
                        f"slowest 1% ({breakdown.tail_requests} at or above "
                        f"{fmt.ms(breakdown.tail_from_ms)})",
                        breakdown.tail,
                    )
            found.append(entry)
    return found


def _worst(steps: dict[int, Cell]) -> Cell | None:
    timed = [c for c in steps.values() if c.step.attribution and c.step.attribution.tail]
    return max(timed, key=lambda c: c.value("p99"), default=None)


def worst_step_sentences(cells: Grid, labels: dict[str, str]) -> list[str]:
    """``At 200 users, 81% of FastAPI's slowest 1% of requests was spent waiting for a
    pooled connection (3.4 s of 4.2 s).`` for each variant's worst step (highest p99)."""
    sentences = []
    for variant, steps in cells.items():
        cell = _worst(steps)
        if cell is None:
            continue
        attribution = cell.step.attribution
        assert attribution is not None and attribution.tail is not None  # _worst chose it
        tail = attribution.tail
        top = bar("", tail).largest
        sentences.append(
            f"At {cell.users} users, {top['percent']:.0f}% of {labels[variant]}'s slowest 1% "
            f"of requests was spent {WORDS[top['name']]} ({fmt.ms(top['ms'])} of "
            f"{fmt.ms(tail.total)})."
        )
    return sentences


def tail_gap(cells: Grid, labels: dict[str, str]) -> str | None:
    """The biggest tail gap against the baseline at the top common step, explained by the
    component that differs most."""
    common = common_users(cells)
    if len(cells) < 2 or not common:
        return None
    users = common[-1]
    baseline, *others = cells
    base = cells[baseline][users].step.attribution
    if base is None or base.tail is None:
        return None
    gaps = []
    for variant in others:
        other = cells[variant][users].step.attribution
        if other is not None and other.tail is not None:
            gaps.append((abs(other.tail.total - base.tail.total), variant, other.tail))
    if not gaps:
        return None
    _, variant, tail = max(gaps, key=lambda gap: gap[0])
    slower, faster = (variant, baseline) if tail.total > base.tail.total else (baseline, variant)
    slow_tail, fast_tail = (tail, base.tail) if slower == variant else (base.tail, tail)
    diffs = {name: getattr(slow_tail, name) - getattr(fast_tail, name) for name in SEGMENTS}
    name = max(diffs, key=lambda n: diffs[n])
    gap = slow_tail.total - fast_tail.total
    return (
        f"Why: at {users} users {labels[slower]}'s slowest 1% took {fmt.ms(gap)} longer than "
        f"{labels[faster]}'s, {fmt.ms(diffs[name])} of it {WORDS[name]}."
    )
