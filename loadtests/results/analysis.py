"""What a scenario measured, arranged for reading: per variant and step, the values of
every round, and each variant against the baseline.

Every report page, the terminal table and ``compare`` read results through here, so a
figure means the same thing everywhere.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from loadtests.results import stats
from loadtests.results.models import RunResults, ScenarioResults, Step


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    lower_is_better: bool
    pick: Callable[[Step], float]
    unit: str

    @property
    def multiplicative(self) -> bool:
        """Compared as ratios (noise scales them); the error rate, often 0, by difference."""
        return self.unit != "fraction"


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("throughput", "req/s", False, lambda s: s.throughput_rps, "req/s"),
        Metric("p50", "p50", True, lambda s: s.latency_ms.p50, "ms"),
        Metric("p95", "p95", True, lambda s: s.latency_ms.p95, "ms"),
        Metric("p99", "p99", True, lambda s: s.latency_ms.p99, "ms"),
        Metric("error_rate", "error rate", True, lambda s: s.failures.rate, "fraction"),
    )
}


@dataclass(frozen=True)
class Cell:
    """One variant at one step: the step as measured in each round that completed it."""

    variant: str
    users: int
    steps: tuple[Step, ...]  # in round order
    rounds: tuple[int, ...]

    def values(self, metric: str) -> list[float]:
        return [METRICS[metric].pick(step) for step in self.steps]

    def value(self, metric: str) -> float:
        """The median across rounds."""
        return statistics.median(self.values(metric))

    def by_round(self, metric: str) -> dict[int, float]:
        return dict(zip(self.rounds, self.values(metric), strict=True))

    def interval(self, metric: str) -> tuple[float, float] | None:
        """A 95% confidence interval of the metric's typical value over rounds (Student's
        t; on logarithms for the multiplicative metrics, see loadtests/results/stats.py); None
        with fewer than two rounds."""
        values = self.values(metric)
        if METRICS[metric].multiplicative:
            if min(values, default=0) <= 0:
                return None
            found = stats.t_interval([math.log(v) for v in values], transform=math.exp)
        else:
            found = stats.t_interval(values)
            found = found and (found[0], max(0.0, found[1]), found[2])
        return (found[1], found[2]) if found else None

    @property
    def step(self) -> Step:
        """The round whose throughput is the median (the first round with one round)."""
        ordered = sorted(self.steps, key=lambda s: s.throughput_rps)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def errors(self) -> int:
        return sum(step.failures.count for step in self.steps)


Grid = dict[str, dict[int, Cell]]  # variant -> users -> cell


def grid(results: RunResults, scenario: str) -> Grid:
    """Every variant's cells in the scenario's variant order (the baseline first)."""
    data: ScenarioResults = results.scenarios[scenario]
    cells: Grid = {}
    for variant in data.variants:
        by_users: dict[int, list[tuple[int, Step]]] = {}
        for run in data.runs_of(variant):
            for step in run.steps:
                by_users.setdefault(step.users, []).append((run.round, step))
        if not by_users and not data.runs_of(variant):
            continue
        cells[variant] = {
            users: Cell(
                variant,
                users,
                tuple(s for _, s in sorted(found)),
                tuple(r for r, _ in sorted(found)),
            )
            for users, found in sorted(by_users.items())
        }
    return cells


def common_users(cells: Grid) -> list[int]:
    sets = [set(steps) for steps in cells.values()]
    return sorted(set.intersection(*sets)) if sets else []


def all_users(cells: Grid) -> list[int]:
    return sorted({users for steps in cells.values() for users in steps})


def littles_law(step: Step) -> float | None:
    """Requests in flight on average (responses per second x mean latency, failures
    included) as a share of the users: about 1 in a closed model without think time."""
    if not step.requests or step.window.seconds <= 0 or not step.users:
        return None
    latency_sum = step.latency_ms.mean * step.successes
    if step.failures.count and step.failures.latency_ms is not None:
        latency_sum += step.failures.latency_ms.mean * step.failures.count
    rate = step.requests / step.window.seconds
    return rate * (latency_sum / step.requests / 1000) / step.users
