"""What a setting costs: two variants at the same time, on the same cores.

This machine's CPU speed drifts by 10-40% between runs (and by several percent between
consecutive windows of one run), far more than the few percent a setting such as
``SERVER_TIMING`` or a request deadline may cost. Measured one after the other, such a
cost hides in the noise. Run *at the same time*, pinned to the same service cores and
driven by their own Locust processes at the same number of users, two CPU-bound
services get equal shares of whatever the CPU delivers at that moment; the ratio of
their throughputs is the ratio of their costs per request, and the drift cancels out.

Each repetition resets the database, starts both (in alternating order), runs one step
and compares the measured windows; the result is the geometric mean of the ratios with
a 95% confidence interval (Student's t on the logs, as for rounds).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from loadtests.infra import cpu, database
from loadtests.infra.postgres import server_processes
from loadtests.plan import SCENARIOS, StepPlan
from loadtests.results.stats import t_interval
from loadtests.run import generator, measure
from loadtests.run.service import ServiceUnderTest
from loadtests.variants import Variant


@dataclass
class Repetition:
    base_rps: float
    other_rps: float
    base_cpu_ms: float  # the service's CPU per request, over the whole Locust run
    other_cpu_ms: float
    generator_cores_busy: float = 0.0  # % of the Locust/PostgreSQL cores, for saturation

    @property
    def ratio(self) -> float:
        return self.other_rps / self.base_rps

    @property
    def cpu_ratio(self) -> float:
        return self.other_cpu_ms / self.base_cpu_ms

    def swapped(self) -> Repetition:
        return Repetition(
            self.other_rps, self.base_rps, self.other_cpu_ms, self.base_cpu_ms,
            self.generator_cores_busy,
        )  # fmt: skip


@dataclass
class Result:
    base: str
    other: str
    scenario: str
    users: int
    seconds: float
    repetitions: list[Repetition] = field(default_factory=list)

    def summary(self, cpu: bool = False) -> tuple[float, float, float] | None:
        """The mean ratio other/base (throughput, or CPU per request) and its 95% interval
        (None before two repetitions)."""
        ratios = [
            r.cpu_ratio if cpu else r.ratio
            for r in self.repetitions
            if min(r.base_rps, r.other_rps, r.base_cpu_ms, r.other_cpu_ms) > 0
        ]
        return t_interval([math.log(r) for r in ratios], transform=math.exp)


def _one(
    pair: tuple[ServiceUnderTest, ServiceUnderTest],
    target: database.Target,
    layout: cpu.CpuLayout,
    scenario: str,
    plan: StepPlan,
    work: Path,
    seed_spec: dict[str, int],
) -> Repetition:
    database.reset(target)
    started: list[ServiceUnderTest] = []
    try:
        for index, service in enumerate(pair):
            started.append(service.start(work / f"service-{index}.log"))
        cpus = layout.other_cpus if layout.pinned else None
        with cpu.pinned_to_others(layout, lambda: server_processes(target.embedded)):
            cpu_before = [_cpu_seconds(service) for service in pair]
            cores_before = psutil.cpu_times(percpu=True)
            recorded = generator.run_together(
                [service.url for service in pair], plan, SCENARIOS[scenario].user_class,
                seed_spec, work, cpus,
            )  # fmt: skip
            cpu_used = [
                _cpu_seconds(s) - before for s, before in zip(pair, cpu_before, strict=True)
            ]
            busy = _busy(cores_before, psutil.cpu_times(percpu=True), layout.other_cpus)
        steps = [measure.steps(data, None)[-1] for data in recorded]
        requests = [measure.recorded_totals(data).requests for data in recorded]
    finally:
        for service in started:
            service.stop()
    per_request = [
        used * 1000 / max(1, count) for used, count in zip(cpu_used, requests, strict=True)
    ]
    base_cpu_ms, other_cpu_ms = per_request
    return Repetition(
        steps[0].throughput_rps, steps[1].throughput_rps, base_cpu_ms, other_cpu_ms, busy
    )


def _busy(before: list[Any], after: list[Any], cores: tuple[int, ...]) -> float:
    idle = sum(after[c].idle - before[c].idle for c in cores)
    total = sum(sum(after[c]) - sum(before[c]) for c in cores)
    return round(100 * (1 - idle / total), 1) if total > 0 else 0.0


def _cpu_seconds(service: ServiceUnderTest) -> float:
    """CPU used so far by the service and its workers."""
    total = 0.0
    for process in service.processes():
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def run(
    base: Variant,
    other: Variant,
    scenario: str,
    users: int,
    seconds: float,
    repetitions: int,
    work: Path,
    progress: Callable[[str], None] = print,
) -> Result:
    result = Result(base.name, other.name, scenario, users, seconds)
    plan = StepPlan((users,), warmup_s=5, measure_s=seconds)
    with database.command_target() as target:
        seed = database.ensure_seeded(target)
        layout = cpu.plan_layout(True)
        services = [
            ServiceUnderTest.prepare(variant, target.url, layout, {}) for variant in (base, other)
        ]
        for number in range(repetitions):
            # Alternate who starts first, so neither always has the warmer caches.
            pair = (services[0], services[1]) if number % 2 == 0 else (services[1], services[0])
            found = _one(pair, target, layout, scenario, plan, work / str(number), seed["spec"])
            if number % 2:
                found = found.swapped()
            result.repetitions.append(found)
            progress(
                f"   {number + 1}/{repetitions}: {base.name} {found.base_rps:.0f} req/s "
                f"({found.base_cpu_ms:.3f} ms CPU each), {other.name} {found.other_rps:.0f} "
                f"req/s ({found.other_cpu_ms:.3f} ms), throughput ratio {found.ratio:.3f}, "
                f"CPU ratio {found.cpu_ratio:.3f}; generator cores "
                f"{found.generator_cores_busy:.0f}% busy"
            )
            (work / "overhead.json").write_text(json.dumps(asdict(result), indent=1))
    return result


def describe(result: Result) -> str:
    throughput, cpu_cost = result.summary(), result.summary(cpu=True)
    if throughput is None or cpu_cost is None:
        return "fewer than two repetitions: no interval"
    return (
        f"{result.other} / {result.base}: throughput {throughput[0]:.3f} (95% CI "
        f"{throughput[1]:.3f}-{throughput[2]:.3f}), service CPU per request {cpu_cost[0]:.3f} "
        f"(95% CI {cpu_cost[1]:.3f}-{cpu_cost[2]:.3f}), over {len(result.repetitions)} "
        f"simultaneous runs of {result.scenario} at {result.users} users each"
    )
