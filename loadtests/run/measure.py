"""From what the recorder wrote inside Locust to the typed steps of ``results.json``."""

from __future__ import annotations

from typing import Any, cast

from loadtests.infra.cpu import CpuLayout, CpuMonitor
from loadtests.recording.attribution import COMPONENTS
from loadtests.recording.histogram import REPORTED_PERCENTILES, Histogram
from loadtests.recording.tally import Tally, TallyData, merged
from loadtests.recording.wire import Recorded
from loadtests.results.models import (
    SATURATED_SECONDS,
    Breakdown,
    Components,
    DatabaseTime,
    Failures,
    Latency,
    LocustCounts,
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


def traffic(tally: Tally, seconds: float) -> dict[str, Any]:
    """Goodput, successful responses' latency, the failures on their own, and where the
    time of the successful ones went."""
    count = tally.count
    failed = tally.failed.count
    return {
        "requests": count,
        "successes": tally.ok.count,
        "throughput_rps": round(tally.ok.count / seconds, 2) if seconds > 0 else 0.0,
        "latency_ms": latency(tally.ok),
        "failures": Failures(
            count=failed,
            rate=round(failed / count, 6) if count else 0.0,
            by_kind=dict(sorted(tally.errors.items())),
            latency_ms=latency(tally.failed) if failed else None,
        ),
        "attribution": breakdown(tally),
    }


def _tallies(data: dict[str, TallyData]) -> dict[str, Tally]:
    return {name: Tally.from_dict(value) for name, value in data.items()}


def steps(
    recorded: Recorded,
    monitor: CpuMonitor | None,
    placement: dict[str, tuple[int, ...]] | None = None,
) -> list[Step]:
    """One entry per measured window the recorder saw close."""
    found = []
    for key, meta in sorted(recorded.steps.items()):
        start, end = meta.window
        seconds = end - start
        if (meta.ended_at or 0.0) < end:
            continue  # the window had not closed when the run stopped: nothing to report
        endpoints = _tallies(recorded.measured.get(key, {}))
        found.append(
            Step(
                step=key,
                users=meta.users,
                window=Window(start=start, end=end, seconds=round(seconds, 3)),
                **traffic(merged(endpoints.values()), seconds),
                endpoints={
                    name: Traffic(**_without_histograms(traffic(tally, seconds)))
                    for name, tally in sorted(endpoints.items())
                },
                cpu=_step_cpu(monitor, start, end, placement or {}),
                stability=_stability(recorded.series, start, end),
            )
        )
    return found


def _without_histograms(values: dict[str, Any]) -> dict[str, Any]:
    """Per endpoint the breakdown is kept, its histograms only for the whole step."""
    if values["attribution"] is not None:
        values["attribution"].histograms = None
    return values


def _stability(series: dict[int, TallyData], start: float, end: float) -> Stability:
    """How steady throughput was inside the window: the coefficient of variation of the
    per-second request counts (whole seconds only). High values mean a noisy step."""
    counts = [
        Tally.from_dict(data).count
        for second, data in series.items()
        if start <= second and second + 1 <= end
    ]
    if len(counts) < 3:
        return Stability(seconds=len(counts), throughput_cv=None)
    mean = sum(counts) / len(counts)
    variance = sum((c - mean) ** 2 for c in counts) / (len(counts) - 1)
    cv = (variance**0.5) / mean if mean else None
    return Stability(seconds=len(counts), throughput_cv=round(cv, 3) if cv is not None else None)


def _step_cpu(
    monitor: CpuMonitor | None, start: float, end: float, placement: dict[str, tuple[int, ...]]
) -> StepCpu | None:
    window = monitor.window(start, end, placement) if monitor else None
    if window is None:
        return None
    return StepCpu(
        generator_percent=window.groups.get("generator"),
        generator_busiest_process_percent=window.busiest_process.get("generator"),
        service_percent=window.groups.get("service"),
        database_percent=window.groups.get("database"),
        pgbouncer_percent=window.groups.get("pgbouncer"),
        cores_percent={str(core): busy for core, busy in window.cores.items()},
        steal_percent=window.steal,
        generator_saturated=window.saturated_seconds >= SATURATED_SECONDS,
        seconds_judged=window.seconds_judged,
        saturated_seconds=window.saturated_seconds,
        foreign_percent={str(core): share for core, share in window.foreign.items()} or None,
        service_memory_mib=_mib(window.memory_peak.get("service")),
    )


def _mib(size: int | None) -> float | None:
    return round(size / 2**20, 1) if size else None


def timeseries(recorded: Recorded) -> list[TimePoint]:
    """Per second: responses, failures and successful responses' percentiles."""
    series = recorded.series
    if not series:
        return []
    first = min(series)
    windows = [(meta.started_at, meta.users) for meta in recorded.steps.values()]
    points = []
    for second, data in sorted(series.items()):
        tally = Tally.from_dict(data)
        percentiles = tally.ok.percentiles((50.0, 95.0, 99.0))
        users = max((u for started, u in windows if started <= second + 1), default=0)
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
    totals = _tallies(recorded.totals)
    return RecordedTotals(
        requests=sum(t.count for t in totals.values()),
        per_endpoint={name: t.count for name, t in sorted(totals.items())},
        per_worker=dict(recorded.per_worker),
    )


def fill(
    outcome: VariantRun,
    recorded: Recorded,
    monitor: CpuMonitor | None,
    layout: CpuLayout,
    stats: dict[str, tuple[int, float]] | None,
) -> None:
    """A variant's run as measured: steps, time series, counts, and the statements
    ``stats`` (pg_stat_statements) counted."""
    groups = list(monitor.groups) if monitor else []
    outcome.steps = steps(recorded, monitor, layout.placement(groups))
    outcome.timeseries = timeseries(recorded)
    outcome.recorded = recorded_totals(recorded)
    outcome.locust_counts = locust_counts(recorded)
    counts = {kind: calls for kind, (calls, _) in stats.items()} if stats else None
    requests = outcome.recorded.requests
    outcome.database_time = database_time(recorded, stats)
    outcome.statements = Statements(
        counts=counts,
        per_request={k: round(v / requests, 3) for k, v in counts.items()}
        if counts and requests
        else None,
    )


def locust_counts(recorded: Recorded) -> LocustCounts:
    return LocustCounts.model_validate(recorded.locust.model_dump())


def database_time(
    recorded: Recorded, stats: dict[str, tuple[int, float]] | None
) -> DatabaseTime | None:
    """pg_stat_statements' execution time beside the services' own db component."""
    if not stats:
        return None
    totals = merged(_tallies(recorded.totals).values())
    requests = totals.count
    timing = totals.timing
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
