"""Published claims the suite checks, shown beside this run's measurement of the same
scenario and concurrency and labelled as claims.

The figures are the articles', not this suite's; a report shows them only next to the
run's own numbers, with whether the run agrees on which variant is best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtests.report import fmt
from loadtests.results.analysis import METRICS, Cell, Grid
from loadtests.results.comparisons import FAILING_RATE, compare


@dataclass(frozen=True)
class Claim:
    title: str
    source: str
    scenario: str
    users: int
    conditions: str
    # variant -> metric -> claimed value; metrics: p50/p95/p99 (ms), throughput (req/s),
    # errors (a count, shown but not compared: the article's is a total)
    figures: dict[str, dict[str, float]]


CLAIMS = (
    Claim(
        title='"1 SELECT + 1 UPDATE" at 200 concurrent requests',
        source="the blog article this suite set out to check (as quoted in the project's issue)",
        scenario="select-update",
        users=200,
        conditions="200 concurrent requests, SQLAlchemy pool_size 20",
        figures={
            "flask": {"p50": 45, "p95": 312, "p99": 1840, "errors": 12},
            "fastapi": {"p50": 52, "p95": 89, "p99": 142, "errors": 0},
        },
    ),
    Claim(
        title="def endpoints vs async endpoints blocking on sync SQLAlchemy vs async SQLAlchemy",
        source="the first article's three-way benchmark (as quoted in the project's issue)",
        scenario="get-user",
        users=1000,
        conditions='"1,000 concurrent requests" of a read by primary key',
        figures={
            "fastapi:sync-def": {"throughput": 600},
            "fastapi:blocking": {"throughput": 550},
            "fastapi": {"throughput": 1400},
        },
    ),
)


CLAIM_TIE = 1.05  # the article's own figures: within 5% of each other is no winner


def _claimed_best(values: dict[str, float], lower_is_better: bool) -> str | None:
    """The article's best variant, or None when its best two are within 5%."""
    ranked = sorted(values, key=values.__getitem__, reverse=not lower_is_better)
    if len(ranked) < 2:
        return ranked[0] if ranked else None
    first, second = values[ranked[0]], values[ranked[1]]
    low, high = sorted((first, second))
    if low <= 0 or high / low < CLAIM_TIE:
        return None
    return ranked[0]


def _measured_best(cells: dict[str, Cell], metric: str) -> str | None:
    """This run's best variant, or None when its interval against the runner-up (paired
    block by block) does not exclude no difference."""
    lower = METRICS[metric].lower_is_better
    ranked = sorted(cells, key=lambda n: cells[n].value(metric), reverse=not lower)
    if len(ranked) < 2:
        return ranked[0] if ranked else None
    first, second = cells[ranked[0]], cells[ranked[1]]
    return ranked[0] if compare(first, second, metric).excludes_neutral else None


def check(claim: Claim, scenario: str, cells: Grid) -> dict[str, Any] | None:
    """The claim beside this run's step at the same concurrency, or None if the run did
    not measure every variant of the claim there."""
    if scenario != claim.scenario:
        return None
    measured = {name: cells.get(name, {}).get(claim.users) for name in claim.figures}
    if any(cell is None for cell in measured.values()):
        return None
    metrics = list(dict.fromkeys(m for figures in claim.figures.values() for m in figures))
    rows = []
    for metric in metrics:
        row: dict[str, Any] = {"metric": metric, "variants": {}}
        for name, cell in measured.items():
            assert cell is not None
            value = float(cell.errors) if metric == "errors" else cell.value(metric)
            claimed = claim.figures[name][metric]
            row["variants"][name] = {
                "claimed": claimed,
                "measured": value,
                "off_by": _off_by(value, claimed) if metric != "errors" else None,
            }
        if metric != "errors":
            lower = METRICS[metric].lower_is_better
            row["claimed_best"] = _claimed_best(
                {n: f[metric] for n, f in claim.figures.items()}, lower
            )
            # A variant failing 1% of its requests or more cannot be best on speed.
            healthy = {
                n: c
                for n, c in measured.items()
                if c is not None and c.value("error_rate") < FAILING_RATE
            }
            row["measured_best"] = _measured_best(healthy, metric)
            row["excluded"] = sorted(set(measured) - set(healthy))
            row["agrees"] = row["measured_best"] is not None and (
                row["claimed_best"] == row["measured_best"]
            )
        rows.append(row)
    headline = next((r for r in rows if r["metric"] in ("p99", "throughput")), rows[0])
    return {"claim": claim, "rows": rows, "headline": headline}


def checks(scenario: str, cells: Grid) -> list[dict[str, Any]]:
    return [found for claim in CLAIMS if (found := check(claim, scenario, cells))]


def _off_by(measured: float, claimed: float) -> str:
    if claimed <= 0 or measured <= 0:
        return "-"
    factor = measured / claimed
    if 0.8 <= factor <= 1.25:
        return "close to the claim"
    if factor > 1:
        return f"{fmt.ratio(factor)} higher than claimed"
    return f"{fmt.ratio(1 / factor)} lower than claimed"
