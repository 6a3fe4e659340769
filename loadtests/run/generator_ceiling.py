"""The load generator's own ceiling: how many requests per second the suite's Locust sends
to a trivial endpoint (loadtests/infra/trivial.py) from one process, and from a master
with its workers, local processes or ``worker`` hosts.

A run's throughput means something only below this ceiling (the report flags a saturated
generator second by second); this measures where it is, and how much a distributed
setup adds. The users are the suite's own (``Health``: the same FastHttpUser, checks and
recording as every scenario), so the figure is that of a real run, not of bare Locust.

Each repetition is two turns, one process and distributed, in alternating order so that
a drift of the machine's speed falls on both alike; the result is the geometric mean of
the per-repetition ratios with a 95% interval (Student's t on the logs). Every response
is accounted for: the merged histograms count what Locust counted, and distributed,
what the workers recorded adds up to it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import statistics
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loadtests.errors import SuiteError
from loadtests.infra import cpu
from loadtests.infra.ports import LOOPBACK, free_port
from loadtests.infra.processes import Supervised
from loadtests.paths import PROJECT_ROOT
from loadtests.plan import HEALTH_USER, StepPlan
from loadtests.recording import wire
from loadtests.results.stats import t_interval
from loadtests.run import generator, measure
from loadtests.run.generator import RemoteWorkers
from loadtests.run.service import wait_healthy
from services.common.seed import SeedSpec

WARMUP_S = 3.0
TARGET_START_S = 10.0
WILDCARDS = ("0.0.0.0", "::", "")
ONE, SPREAD = "one process", "distributed"  # the two setups of every repetition


@dataclass(frozen=True)
class Distributed:
    """The setup measured against one process: ``processes`` local Locust processes, or
    the master of ``remote`` workers."""

    processes: int = 2
    remote: RemoteWorkers | None = None

    def describe(self) -> str:
        if self.remote is not None:
            where = f"{self.remote.bind_host}:{self.remote.bind_port}"
            return f"a master at {where} + {self.remote.expected} worker(s)"
        return f"a master + {self.processes} local worker processes"


@dataclass
class Turn:
    """One Locust run against the trivial endpoint."""

    setup: str  # ONE or SPREAD
    rps: float  # successes per second over the measured window
    responses: int  # the suite's histograms, the whole run (warm-up included)
    locust_responses: int  # Locust's own count
    per_worker: dict[str, int]  # worker id -> responses it recorded (distributed)
    generator_cpu_percent: float | None  # the Locust processes started here, % of one core
    workers_cpu_percent: list[float | None]  # each worker's in the window, as it reported
    target_cpu_percent: float | None  # the trivial endpoint's, % of one core
    errors: int  # in the measured window
    p99_ms: float  # successes in the measured window

    @property
    def accounted(self) -> bool:
        """Every response counted once: histograms = Locust = the workers' sum."""
        workers = sum(self.per_worker.values())
        return self.responses == self.locust_responses and (
            not self.per_worker or workers == self.responses
        )


@dataclass
class Result:
    users: int
    seconds: float
    distributed: str
    repetitions: list[tuple[Turn, Turn]] = field(default_factory=list)  # (one, distributed)

    def ratios(self) -> list[float]:
        return [d.rps / one.rps for one, d in self.repetitions if one.rps > 0 and d.rps > 0]

    def summary(self) -> tuple[float, float, float] | None:
        """The mean ratio distributed / one process and its 95% interval (None before two
        repetitions)."""
        return t_interval([math.log(r) for r in self.ratios()], transform=math.exp)


def run(
    distributed: Distributed,
    users: int,
    seconds: float,
    repetitions: int,
    work: Path,
    progress: Callable[[str], None] = print,
) -> Result:
    result = Result(users, seconds, distributed.describe())
    plan = StepPlan((users,), warmup_s=WARMUP_S, measure_s=seconds)
    remote = distributed.remote
    with trivial_target(remote.bind_host if remote else LOOPBACK, work) as (url, target):
        progress(f"the trivial endpoint: {url}/health")
        for number in range(repetitions):
            # Alternate the order, so that neither setup always runs on a warmer machine.
            order = (ONE, SPREAD) if number % 2 == 0 else (SPREAD, ONE)
            turns: dict[str, Turn] = {}
            for setup in order:
                # Remote workers stay until the last distributed turn (``--again``).
                again = setup == SPREAD and remote is not None and number < repetitions - 1
                progress(f"   {number + 1}/{repetitions}: {setup}...")
                turns[setup] = _turn(
                    setup, distributed if setup == SPREAD else Distributed(1), plan, url,
                    target, work / f"{number + 1}-{setup.replace(' ', '-')}", again,
                )  # fmt: skip
            pair = turns[ONE], turns[SPREAD]
            result.repetitions.append(pair)
            progress(f"   {number + 1}/{repetitions}: {describe_repetition(*pair)}")
            (work / "generator.json").write_text(json.dumps(asdict(result), indent=1))
    return result


def _turn(
    setup: str,
    distributed: Distributed,
    plan: StepPlan,
    url: str,
    target: Supervised,
    work: Path,
    again: bool,
) -> Turn:
    results = work / "locust.json"
    log = work / "locust.log"
    extra = ["--again"] if again else []
    remote = distributed.remote
    locust = generator.start(
        generator.headless_args(plan, HEALTH_USER, results, *extra),
        url, SeedSpec().as_dict(), log, None, distributed.processes, remote,
    )  # fmt: skip
    monitor = cpu.CpuMonitor(
        {"generator": locust.processes, cpu.service_group(""): target.processes}
    )
    try:
        with monitor:
            waited = plan.total_s() + (remote.timeout_s if remote else 0.0)
            status = generator.wait(locust, waited, log)
    finally:
        locust.stop()  # already ended, unless interrupted (Locust has its own session)
    recorded = wire.read(results) if results.exists() else None
    if remote is not None and (recorded is None or not recorded.windows):
        raise SuiteError(generator.missing_workers(remote, log))
    if recorded is None:
        raise SuiteError(f"Locust wrote no statistics ({status}); see {log}")
    if status != "finished" or not recorded.complete:
        raise SuiteError(f"the {setup} turn did not finish ({status}); see {log}")
    (step,) = measure.steps(recorded, monitor)
    totals = measure.recorded_totals(recorded)
    return Turn(
        setup=setup,
        rps=step.throughput_rps,
        responses=totals.requests,
        locust_responses=recorded.locust.requests,
        per_worker=dict(totals.per_worker),
        generator_cpu_percent=step.cpu.generator_percent if step.cpu else None,
        workers_cpu_percent=[
            _mean_inside(seen.cpu, step.window.start, step.window.end)
            for seen in recorded.workers.values()
        ],
        target_cpu_percent=step.cpu.service_percent if step.cpu else None,
        errors=step.requests - step.successes,
        p99_ms=step.latency_ms.p99,
    )


def _mean_inside(per_second: dict[int, float], start: float, end: float) -> float | None:
    inside = [value for second, value in per_second.items() if start <= second < end]
    return round(statistics.fmean(inside), 1) if inside else None


def describe_repetition(one: Turn, spread: Turn) -> str:
    ratio = spread.rps / one.rps if one.rps else float("nan")
    accounted = (
        "every response accounted for"
        if one.accounted and spread.accounted
        else ("RESPONSES NOT ACCOUNTED FOR (histograms, Locust and workers disagree)")
    )
    return (
        f"one process {one.rps:,.0f} req/s (its CPU {_percent(one.generator_cpu_percent)}), "
        f"distributed {spread.rps:,.0f} req/s ({_cpu_of(spread)}): {ratio:.2f}x; "
        f"the endpoint's CPU {_percent(one.target_cpu_percent)} / "
        f"{_percent(spread.target_cpu_percent)}; {accounted}"
    )


def _cpu_of(turn: Turn) -> str:
    here = f"the processes started here {_percent(turn.generator_cpu_percent)}"
    reported = ", ".join(_percent(value) for value in turn.workers_cpu_percent)
    return f"{here}; each worker {reported}" if reported else here


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def describe(result: Result) -> str:
    found = result.summary()
    ratios = ", ".join(f"{r:.2f}" for r in result.ratios())
    if found is None:
        return f"{result.distributed} / one process: {ratios or '-'}x (one repetition: no interval)"
    mean, low, high = found
    return (
        f"{result.distributed} / one process: {mean:.2f}x (95% CI {low:.2f}-{high:.2f}; "
        f"repetitions {ratios}), {result.users} users, {result.seconds:g} s measured each"
    )


@contextlib.contextmanager
def trivial_target(host: str, work: Path) -> Iterator[tuple[str, Supervised]]:
    """The trivial endpoint listening on ``host`` (all addresses for a wildcard, named by
    this host's name so that workers elsewhere reach it), until the block ends."""
    bind = "0.0.0.0" if host in WILDCARDS else host
    port = free_port(bind)
    url = f"http://{socket.getfqdn() if host in WILDCARDS else host}:{port}"
    argv = [sys.executable, "-m", "loadtests.infra.trivial", bind, str(port)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    target = Supervised("trivial", argv, env, work / "trivial.log", None, cwd=PROJECT_ROOT)
    try:
        wait_healthy(url, target, "the trivial endpoint", TARGET_START_S)
        yield url, target
    finally:
        target.stop()
