"""From what Locust recorded to the typed steps of ``results.json``.

A variant's step pools its windows of every block: the windows' histograms merge (so
its percentiles are exact over all of them) and its throughput is its successes over
its measured seconds. Each window also keeps its own figures (``BlockValues``): the
replicates the verdicts pair block by block. A fault's block is measured like the others
but kept out of the step.
"""

from __future__ import annotations

from typing import Any, cast

from loadtests.infra.cpu import PROCESS_SATURATED_PERCENT, CpuLayout, CpuMonitor, service_group
from loadtests.recording.attribution import COMPONENTS
from loadtests.recording.histogram import REPORTED_PERCENTILES, Histogram
from loadtests.recording.schedule import FAULT_BLOCK
from loadtests.recording.tally import Tally, TallyData, merged
from loadtests.recording.wire import LOSS_REACH_S, Recorded, WindowMeta, WorkerSeen
from loadtests.results.models import (
    SATURATED_SECONDS,
    BlockValues,
    Breakdown,
    Components,
    DatabaseTime,
    Failures,
    GeneratorHost,
    Latency,
    LocustCounts,
    OpenFigures,
    Stability,
    Statements,
    StatementTime,
    Step,
    StepCpu,
    TimePoint,
    Traffic,
    VariantRun,
    Window,
)
from loadtests.results.models import Recorded as RecordedTotals  # the wire's is "Recorded"
from loadtests.run.statements import Stats, WindowStatements

_PERCENTILE_KEYS = {50.0: "p50", 90.0: "p90", 95.0: "p95", 99.0: "p99", 99.9: "p99_9"}


def _ms(micros: float) -> float:
    return round(micros / 1000.0, 3)


def latency(histogram: Histogram) -> Latency:
    percentiles = histogram.percentiles(REPORTED_PERCENTILES)
    return Latency(
        **{_PERCENTILE_KEYS[p]: _ms(v) for p, v in percentiles.items()},
        max=_ms(histogram.max),
        min=_ms(histogram.min),
        mean=_ms(histogram.mean),
    )


def _components(micros: dict[str, float]) -> Components:
    ms = {name: round(micros[name] / 1000, 4) for name in COMPONENTS}
    other = max(0.0, ms["app"] - ms["pool"] - ms["db"] - ms["orm"])
    return Components(**ms, other=round(other, 4))


def breakdown(tally: Tally) -> Breakdown | None:
    timing = tally.timing
    if timing is None:
        return None
    found = Breakdown(
        timed=timing.timed,
        untimed=timing.untimed,
        mean=_components(timing.mean()) if timing.timed else None,
    )
    if timing.tail is not None and timing.histograms is not None and timing.timed:
        p99 = tally.ok.percentile(99)
        found.tail_requests, tail = timing.slowest(p99)
        found.tail = _components(tail)
        found.tail_from_ms = _ms(p99)
        # The report reads them back with Histogram.from_dict; results.json keeps them as
        # plain objects.
        found.histograms = {
            name: cast(dict[str, Any], h.to_dict()) for name, h in timing.histograms.items()
        }
    return found


def traffic(tally: Tally, seconds: float, served: int | None = None) -> dict[str, Any]:
    """Goodput, successful responses' latency, the failures on their own, and where the
    time of the successful ones went. ``served``: the open model's successes completed
    inside the windows, its throughput (the tally holds the windows' arrivals)."""
    count = tally.count
    failed = tally.failed.count
    return {
        "requests": count,
        "successes": tally.ok.count,
        "throughput_rps": _goodput(tally, seconds, served),
        "latency_ms": latency(tally.timed),
        # The open model: the service time, from the actual send, beside the latency above.
        "service_latency_ms": latency(tally.ok) if tally.intended is not None else None,
        "failures": Failures(
            count=failed,
            rate=round(failed / count, 6) if count else 0.0,
            by_kind=dict(sorted(tally.errors.items())),
            latency_ms=latency(tally.failed) if failed else None,
        ),
        "attribution": breakdown(tally),
    }


def _goodput(tally: Tally, seconds: float, served: int | None) -> float:
    """Successes per second: the tally's, or the open model's ``served`` (see ``traffic``)."""
    done = tally.ok.count if served is None else served
    return round(done / seconds, 2) if seconds > 0 else 0.0


def _tallies(data: dict[str, TallyData]) -> dict[str, Tally]:
    return {name: Tally.from_dict(value) for name, value in data.items()}


def _closed(recorded: Recorded) -> list[WindowMeta]:
    """The windows that closed before the run stopped, in time order."""
    return [
        meta
        for _, meta in sorted(recorded.windows.items())
        if meta.ended_at is not None and meta.ended_at >= meta.end
    ]


def fill(
    outcomes: dict[str, VariantRun],
    recorded: Recorded,
    monitor: CpuMonitor | None,
    layout: CpuLayout,
    statements: WindowStatements | None,
) -> None:
    """Every variant's steps, time series and statements, from one scenario's Locust run."""
    placement = layout.placement(list(monitor.groups) if monitor else [])
    windows = _closed(recorded)
    first = min((min(s) for s in recorded.series.values() if s), default=0)
    for variant, outcome in outcomes.items():
        mine = [
            w
            for w in windows
            if w.variant == variant and w.block != FAULT_BLOCK and w.generator == "locust"
        ]  # a fault's block is the fault's; wrk's turns are the cross-check's
        by_step: dict[int, list[WindowMeta]] = {}
        for meta in mine:
            by_step.setdefault(meta.step, []).append(meta)
        series = recorded.series.get(variant, {})
        outcome.steps = [
            _step(metas, recorded, series, monitor, placement)
            for _, metas in sorted(by_step.items())
        ]
        outcome.timeseries = timeseries(series, [w for w in windows if w.variant == variant], first)
        outcome.fault_window = _fault_window(recorded, windows, variant)
        outcome.recorded = RecordedTotals(
            requests=sum(Tally.from_dict(t).count for t in series.values()),
            per_endpoint={},
            per_worker={},
        )
        counted = statements.of([w.window for w in mine]) if statements else None
        _statements(outcome, recorded, counted)


def _fault_window(recorded: Recorded, windows: list[WindowMeta], variant: str) -> Traffic | None:
    """The variant's window in a fault's block, pooled over its endpoints."""
    metas = [w for w in windows if w.variant == variant and w.block == FAULT_BLOCK]
    if not metas:
        return None
    tally = merged(merged(_tallies(recorded.measured.get(m.window, {})).values()) for m in metas)
    return Traffic(**traffic(tally, sum(m.end - m.start for m in metas), _served(recorded, metas)))


def _served(recorded: Recorded, metas: list[WindowMeta], endpoint: str | None = None) -> int | None:
    """The open model's successes completed inside these windows (of ``endpoint``, or of
    all); None in the closed model, whose tallies already count exactly those."""
    if metas[0].arrivals is None:
        return None
    counts = [recorded.served.get(meta.window, {}) for meta in metas]
    return sum(c.get(endpoint, 0) if endpoint else sum(c.values()) for c in counts)


def _step(
    metas: list[WindowMeta],
    recorded: Recorded,
    series: dict[int, TallyData],
    monitor: CpuMonitor | None,
    placement: dict[str, tuple[int, ...]],
) -> Step:
    pooled: dict[str, Tally] = {}
    blocks = []
    cpus = []
    for meta in metas:
        endpoints = _tallies(recorded.measured.get(meta.window, {}))
        for name, tally in endpoints.items():
            pooled.setdefault(name, Tally()).merge(tally)
        cpu = _step_cpu(monitor, meta, placement)
        cpus.append(cpu)
        blocks.append(_block(meta, merged(endpoints.values()), cpu, recorded))
    seconds = sum(meta.end - meta.start for meta in metas)
    total = merged(pooled.values())
    return Step(
        step=metas[0].step,
        users=metas[0].users,
        window=Window(start=metas[0].start, end=metas[-1].end, seconds=round(seconds, 3)),
        **traffic(total, seconds, _served(recorded, metas)),
        endpoints={
            name: Traffic(
                **_without_histograms(traffic(tally, seconds, _served(recorded, metas, name)))
            )
            for name, tally in sorted(pooled.items())
        },
        cpu=_pooled_cpu(cpus),
        stability=_stability(series, metas),
        blocks=blocks,
        latency_histogram=cast(dict[str, Any], total.timed.to_dict()),
        open=_open(metas, total, recorded.dropped),
        lost_workers=_lost_during(metas, recorded.workers),
    )


def _lost_during(metas: list[WindowMeta], workers: dict[str, WorkerSeen]) -> list[str]:
    """The workers whose loss reaches into one of these windows (``LOSS_REACH_S``)."""
    return sorted(
        {
            seen.name
            for seen in workers.values()
            for meta in metas
            if seen.lost_at is not None
            and seen.lost_at - LOSS_REACH_S < meta.end + (meta.settle_s or 0.0)
            and seen.lost_at >= meta.switch_at
        }
    )


def _open(metas: list[WindowMeta], total: Tally, dropped: dict[int, int]) -> OpenFigures | None:
    if metas[0].arrivals is None:
        return None
    lost = sum(dropped.get(meta.window, 0) for meta in metas)
    settled = [meta.settle_s for meta in metas if meta.settle_s is not None]
    arrivals = total.count + lost
    lag = total.lag.percentiles((50.0, 99.0)) if total.lag and total.lag.count else {}
    return OpenFigures(
        offered_rps=float(metas[0].users),
        arrivals=arrivals,
        dropped=lost,
        dropped_rate=round(lost / arrivals, 6) if arrivals else 0.0,
        lag_p50_ms=round(lag[50.0] / 1000, 3) if lag else None,
        lag_p99_ms=round(lag[99.0] / 1000, 3) if lag else None,
        lag_max_ms=round(total.lag.max / 1000, 3) if total.lag and total.lag.count else None,
        settle_max_s=max(settled) if settled else None,
        unanswered=sum(meta.unanswered for meta in metas),
    )


def _block(meta: WindowMeta, tally: Tally, cpu: StepCpu | None, recorded: Recorded) -> BlockValues:
    seconds = meta.end - meta.start
    found = latency(tally.timed)
    return BlockValues(
        block=meta.block,
        position=meta.position,
        window=Window(start=meta.start, end=meta.end, seconds=round(seconds, 3)),
        requests=tally.count,
        successes=tally.ok.count,
        throughput_rps=_goodput(tally, seconds, _served(recorded, [meta])),
        p50=found.p50,
        p95=found.p95,
        p99=found.p99,
        p99_9=found.p99_9,
        error_rate=round(tally.failed.count / tally.count, 6) if tally.count else 0.0,
        generator_saturated=cpu.generator_saturated if cpu else None,
        generator_cpu_percent=cpu.generator_percent if cpu else None,
        dropped=recorded.dropped.get(meta.window, 0),
        settle_s=meta.settle_s,
    )


def _without_histograms(values: dict[str, Any]) -> dict[str, Any]:
    """Per endpoint the breakdown is kept, its histograms only for the whole step."""
    if values["attribution"] is not None:
        values["attribution"].histograms = None
    return values


def _stability(series: dict[int, TallyData], metas: list[WindowMeta]) -> Stability:
    """How steady throughput was inside the windows: the coefficient of variation of the
    per-second request counts (whole seconds only). High values mean a noisy step."""
    counts = [
        Tally.from_dict(data).count
        for second, data in series.items()
        if any(meta.start <= second and second + 1 <= meta.end for meta in metas)
    ]
    if len(counts) < 3:
        return Stability(seconds=len(counts), throughput_cv=None)
    mean = sum(counts) / len(counts)
    variance = sum((c - mean) ** 2 for c in counts) / (len(counts) - 1)
    cv = (variance**0.5) / mean if mean else None
    return Stability(seconds=len(counts), throughput_cv=round(cv, 3) if cv is not None else None)


def _step_cpu(
    monitor: CpuMonitor | None, meta: WindowMeta, placement: dict[str, tuple[int, ...]]
) -> StepCpu | None:
    """The window's CPU; ``service`` is the variant whose window it is."""
    window = monitor.window(meta.start, meta.end, placement) if monitor else None
    if window is None:
        return None
    service = service_group(meta.variant)
    return StepCpu(
        generator_percent=window.groups.get("generator"),
        generator_busiest_process_percent=window.busiest_process.get("generator"),
        service_percent=window.groups.get(service),
        database_percent=window.groups.get("database"),
        pgbouncer_percent=window.groups.get("pgbouncer"),
        cores_percent={str(core): busy for core, busy in window.cores.items()},
        steal_percent=window.steal,
        generator_saturated=window.saturated_seconds >= SATURATED_SECONDS,
        seconds_judged=window.seconds_judged,
        saturated_seconds=window.saturated_seconds,
        foreign_percent={str(core): share for core, share in window.foreign.items()} or None,
        service_memory_mib=_mib(window.memory_peak.get(service)),
    )


def _pooled_cpu(windows: list[StepCpu | None]) -> StepCpu | None:
    """A step's CPU over its windows: the mean of each share (the windows are equally
    long), saturated seconds summed and judged together, the most memory held."""
    cpus = [cpu for cpu in windows if cpu is not None]
    if not cpus:
        return None

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(sum(known) / len(known), 1) if known else None

    def mean_of(name: str) -> dict[str, float]:
        keys = {k for cpu in cpus for k in (getattr(cpu, name) or {})}
        return {
            k: round(sum((getattr(c, name) or {}).get(k, 0.0) for c in cpus) / len(cpus), 1)
            for k in sorted(keys)
        }

    saturated = sum(cpu.saturated_seconds or 0 for cpu in cpus)
    memory = [cpu.service_memory_mib for cpu in cpus if cpu.service_memory_mib is not None]
    return StepCpu(
        generator_percent=mean([c.generator_percent for c in cpus]),
        generator_busiest_process_percent=mean([c.generator_busiest_process_percent for c in cpus]),
        service_percent=mean([c.service_percent for c in cpus]),
        database_percent=mean([c.database_percent for c in cpus]),
        pgbouncer_percent=mean([c.pgbouncer_percent for c in cpus]),
        cores_percent=mean_of("cores_percent"),
        steal_percent=mean([c.steal_percent for c in cpus]) or 0.0,
        generator_saturated=saturated >= SATURATED_SECONDS,
        seconds_judged=sum(cpu.seconds_judged or 0 for cpu in cpus),
        saturated_seconds=saturated,
        foreign_percent=mean_of("foreign_percent") or None,
        service_memory_mib=max(memory) if memory else None,
    )


def _mib(size: int | None) -> float | None:
    return round(size / 2**20, 1) if size else None


def timeseries(
    series: dict[int, TallyData], windows: list[WindowMeta], first: int
) -> list[TimePoint]:
    """Per second of one variant's traffic: responses, failures and the successful
    responses' percentiles; ``t`` counts from the scenario's first response. ``users`` is
    the level of the variant's latest turn begun by then (``windows``: its own, in time
    order), which falls as well as rises when the steps are interleaved."""
    points = []
    for second, data in sorted(series.items()):
        tally = Tally.from_dict(data)
        percentiles = tally.ok.percentiles((50.0, 95.0, 99.0))
        begun = [w.users for w in windows if w.switch_at <= second + 1]
        users = begun[-1] if begun else 0
        points.append(
            TimePoint(
                t=second - first,
                epoch=second,
                users=users,
                requests=tally.count,
                errors=tally.failed.count,
                p50_ms=_ms(percentiles[50.0]),
                p95_ms=_ms(percentiles[95.0]),
                p99_ms=_ms(percentiles[99.0]),
            )
        )
    return points


def recorded_totals(recorded: Recorded) -> RecordedTotals:
    """Every response of the Locust run, per endpoint and per worker process."""
    totals = _tallies(recorded.totals)
    return RecordedTotals(
        requests=sum(t.count for t in totals.values()),
        per_endpoint={name: t.count for name, t in sorted(totals.items())},
        per_worker=dict(recorded.per_worker),
    )


def locust_counts(recorded: Recorded) -> LocustCounts:
    return LocustCounts.model_validate(recorded.locust.model_dump())


def _statements(
    outcome: VariantRun, recorded: Recorded, counted: tuple[Stats, list[int]] | None
) -> None:
    """Statements per request and the server's time beside the services' db component,
    over the windows whose statements were counted."""
    if counted is None:
        outcome.statements = Statements(counts=None, per_request=None)
        return
    stats, windows = counted
    total = merged(
        tally
        for window in windows
        for tally in _tallies(recorded.measured.get(window, {})).values()
    )
    requests = total.count
    counts = {kind: calls for kind, (calls, _) in stats.items()}
    outcome.statements = Statements(
        counts=counts,
        per_request={k: round(v / requests, 3) for k, v in counts.items()} if requests else None,
    )
    outcome.database_time = database_time(total, stats)


def database_time(total: Tally, stats: Stats) -> DatabaseTime | None:
    """pg_stat_statements' execution time beside the services' own db component."""
    if not stats:
        return None
    requests = total.count
    timing = total.timing
    driver = timing.sums["db"] / timing.timed / 1000 if timing and timing.timed else None
    server = sum(ms for _, ms in stats.values())
    return DatabaseTime(
        statements={
            kind: StatementTime(
                calls=calls, total_ms=round(ms, 3), mean_ms=round(ms / calls, 4) if calls else 0
            )
            for kind, (calls, ms) in stats.items()
        },
        requests=requests,
        server_ms_per_request=round(server / requests, 4) if requests else 0.0,
        driver_ms_per_request=round(driver, 4) if driver is not None else None,
    )


def steps(recorded: Recorded, monitor: CpuMonitor | None = None) -> list[Step]:
    """One target's steps (a run without variants: the cross-check, ``overhead``)."""
    outcome = VariantRun(variant="", status="running")
    fill({"": outcome}, recorded, monitor, CpuLayout(False, (), (), ""), None)
    return outcome.steps


def generator_hosts(recorded: Recorded) -> list[GeneratorHost]:
    """Every Locust worker the master accepted, with its requests and CPU."""
    ordered = sorted(recorded.workers.items(), key=lambda item: item[1].joined_at)
    return [_host(client, seen, recorded.per_worker.get(client, 0)) for client, seen in ordered]


def _host(client: str, seen: WorkerSeen, requests: int) -> GeneratorHost:
    cpu = list(seen.cpu.values())
    return GeneratorHost(
        id=client, name=seen.name, hostname=seen.hostname, requests=requests,
        cpu_mean_percent=round(sum(cpu) / len(cpu), 1) if cpu else None,
        cpu_max_percent=max(cpu) if cpu else None,
        saturated_seconds=sum(1 for v in cpu if v >= PROCESS_SATURATED_PERCENT),
        joined_at=seen.joined_at, lost_at=seen.lost_at,
    )  # fmt: skip
