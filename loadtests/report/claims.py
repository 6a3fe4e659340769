"""Published claims the suite checks, shown beside the measurement and labelled as claims.

The figures are the article's, not this suite's; a report shows them only next to this
run's own measurement of the same scenario and concurrency, with whether the run agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtests.report import fmt
from loadtests.report.verdicts import compare, steps_by_users

METRICS = ("p50", "p95", "p99")


@dataclass(frozen=True)
class Claim:
    title: str
    source: str
    scenario: str
    users: int
    conditions: str
    figures: dict[str, dict[str, float]]  # service -> p50/p95/p99 (ms) and errors


ARTICLE_CLAIM = Claim(
    title='"1 SELECT + 1 UPDATE" at 200 concurrent requests',
    source="the blog article this suite set out to check (as quoted in the project's issue)",
    scenario="select-update",
    users=200,
    conditions="200 concurrent requests, SQLAlchemy pool_size 20",
    figures={
        "flask": {"p50": 45, "p95": 312, "p99": 1840, "errors": 12},
        "fastapi": {"p50": 52, "p95": 89, "p99": 142, "errors": 0},
    },
)


def check(
    claim: Claim, scenario: str, outcomes: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any] | None:
    """The claim beside this run's step at the same concurrency, or None if not comparable."""
    if scenario != claim.scenario:
        return None
    measured = {name: steps_by_users(outcomes.get(name)).get(claim.users) for name in claim.figures}
    if any(step is None for step in measured.values()):
        return None
    rows = []
    for metric in (*METRICS, "errors"):
        row: dict[str, Any] = {"metric": metric, "services": {}}
        for name, step in measured.items():
            assert step is not None
            value = step["errors"] if metric == "errors" else step["latency_ms"][metric]
            claimed = claim.figures[name][metric]
            row["services"][name] = {
                "claimed": claimed,
                "measured": value,
                "off_by": _off_by(value, claimed) if metric != "errors" else None,
            }
        if metric != "errors":
            # The same 5% band as the headlines: within it, neither is lower.
            claimed = compare({n: f[metric] for n, f in claim.figures.items()}, True)
            ours = {n: s["latency_ms"][metric] for n, s in measured.items() if s}
            found = compare(ours, True)
            row["claimed_lower"] = claimed.better
            row["measured_lower"] = found.better
            row["agrees"] = found.comparable and claimed.better == found.better
        rows.append(row)
    pools = {name: (s.get("settings") or {}).get("pool_size") for name, s in settings.items()}
    return {
        "claim": claim,
        "rows": rows,
        "agrees_on_p99": next(r["agrees"] for r in rows if r["metric"] == "p99"),
        "pool_sizes": pools,
    }


def _off_by(measured: float, claimed: float) -> str:
    if claimed <= 0 or measured <= 0:
        return "-"
    factor = measured / claimed
    if 0.8 <= factor <= 1.25:
        return "close to the claim"
    if factor > 1:
        return f"{fmt.ratio(factor)} higher than claimed"
    return f"{fmt.ratio(1 / factor)} lower than claimed"
