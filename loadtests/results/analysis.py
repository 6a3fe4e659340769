"""What a scenario measured, arranged for reading: per variant and step, the pooled
figure and the replicates (blocks) behind it.

Every report page, the terminal table and ``compare`` read results through here, so a
figure means the same thing everywhere.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from loadtests.results import stats
from loadtests.results.models import BlockValues, RunResults, ScenarioResults, Step


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    lower_is_better: bool
    pick: Callable[[Step], float]
    pick_block: Callable[[BlockValues], float]
    unit: str

    @property
    def multiplicative(self) -> bool:
        """Compared as ratios (noise scales them); the error rate, often 0, by difference."""
        return self.unit != "fraction"


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("throughput", "req/s", False, lambda s: s.throughput_rps,
               lambda b: b.throughput_rps, "req/s"),
        Metric("p50", "p50", True, lambda s: s.latency_ms.p50, lambda b: b.p50, "ms"),
        Metric("p95", "p95", True, lambda s: s.latency_ms.p95, lambda b: b.p95, "ms"),
        Metric("p99", "p99", True, lambda s: s.latency_ms.p99, lambda b: b.p99, "ms"),
        Metric("error_rate", "error rate", True, lambda s: s.failures.rate,
               lambda b: b.error_rate, "fraction"),
    )
}  # fmt: skip

Replicate = tuple[int, int]  # (round, block): what two variants' values are paired on


@dataclass(frozen=True)
class Cell:
    """One variant at one step. Its figure is the pooled step (every block's window
    merged); its replicates are the blocks' own values. Older results (rounds) have one
    step per round and no blocks: each round is then one replicate and the figure is the
    round with the median throughput."""

    variant: str
    users: int
    steps: tuple[Step, ...]  # in round order (one in a run of blocks)
    rounds: tuple[int, ...]

    @property
    def step(self) -> Step:
        ordered = sorted(self.steps, key=lambda s: s.throughput_rps)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def pooled(self) -> bool:
        """Its figure pools the blocks' histograms (not one round's step)."""
        return len(self.steps) == 1 and bool(self.steps[0].blocks)

    def value(self, metric: str) -> float:
        return METRICS[metric].pick(self.step)

    def replicates(self, metric: str) -> dict[Replicate, float]:
        spec, found = METRICS[metric], {}
        for round_number, step in zip(self.rounds, self.steps, strict=True):
            if step.blocks:
                found.update({(round_number, b.block): spec.pick_block(b) for b in step.blocks})
            else:
                found[(round_number, 1)] = spec.pick(step)
        return found

    def interval(self, metric: str) -> tuple[float, float] | None:
        """A 95% interval of the figure, from the spread of its replicates (Student's t;
        on logarithms for the multiplicative metrics, see loadtests/results/stats.py);
        None with fewer than two."""
        values = list(self.replicates(metric).values())
        if METRICS[metric].multiplicative:
            value = self.value(metric)
            if value <= 0 or min(values, default=0) <= 0:
                return None
            mean = statistics.fmean(math.log(v) for v in values)
            found = stats.paired([math.log(v) - mean for v in values], center=math.log(value))
            return found.ratio_interval if found else None
        interval = stats.paired(values, center=self.value(metric))
        return (max(0.0, interval.low), interval.high) if interval else None

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
