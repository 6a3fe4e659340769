"""``results.json``: the single source of every report of a run.

The runner fills it in as the run goes (after each service's run, so an interrupted run
keeps what it measured, marked partial); reports are rebuilt from it alone. Its schema
is ``results.schema.json`` next to this module.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from loadtests.cpu import CpuMonitor, generator_saturated
from loadtests.errors import SuiteError
from loadtests.histogram import REPORTED_PERCENTILES
from loadtests.recorder import Tally

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
FILENAME = "results.json"

_PERCENTILE_KEYS = {50.0: "p50", 90.0: "p90", 95.0: "p95", 99.0: "p99", 99.9: "p99_9"}


def _ms(micros: float) -> float:
    return round(micros / 1000.0, 3)


def summarize(tally: Tally, seconds: float) -> dict[str, Any]:
    """Requests, throughput, exact latency percentiles and errors of one tally."""
    latency = tally.latency
    percentiles = latency.percentiles(REPORTED_PERCENTILES)
    errors = sum(tally.errors.values())
    return {
        "requests": latency.count,
        "throughput_rps": round(latency.count / seconds, 2) if seconds > 0 else 0.0,
        "latency_ms": {
            **{_PERCENTILE_KEYS[p]: _ms(v) for p, v in percentiles.items()},
            "max": _ms(latency.max),
            "min": _ms(latency.min),
            "mean": _ms(latency.mean),
        },
        "errors": errors,
        "error_rate": round(errors / latency.count, 6) if latency.count else 0.0,
        "errors_by_kind": dict(sorted(tally.errors.items())),
    }


def _tallies(data: dict[str, Any]) -> dict[str, Tally]:
    return {name: Tally.from_dict(value) for name, value in data.items()}


def _merged(tallies: dict[str, Tally]) -> Tally:
    total = Tally()
    for tally in tallies.values():
        total.merge(tally)
    return total


def step_results(
    recorded: dict[str, Any], monitor: CpuMonitor | None, generator_cpus: tuple[int, ...]
) -> list[dict[str, Any]]:
    """One entry per measured window the recorder saw."""
    steps = []
    for key, meta in sorted(recorded["steps"].items(), key=lambda item: int(item[0])):
        start, end = meta["window"]
        seconds = end - start
        if float(meta.get("ended_at", 0)) < end:
            continue  # the window had not closed when the run stopped: nothing to report
        endpoints = _tallies(recorded["measured"].get(key, {}))
        entry = {
            "step": int(key),
            "users": meta["users"],
            "window": {"start": start, "end": end, "seconds": round(seconds, 3)},
            **summarize(_merged(endpoints), seconds),
            "endpoints": {
                name: summarize(tally, seconds) for name, tally in sorted(endpoints.items())
            },
            "cpu": _step_cpu(monitor, start, end, generator_cpus),
            "stability": _stability(recorded["series"], start, end),
        }
        steps.append(entry)
    return steps


def _stability(series: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """How steady throughput was inside the window: the coefficient of variation of the
    per-second request counts (whole seconds only). High values mean a noisy step."""
    counts = [
        int(data["latency"]["count"])  # a count is all it needs: no histogram to rebuild
        for second, data in series.items()
        if start <= int(second) and int(second) + 1 <= end
    ]
    if len(counts) < 3:
        return {"seconds": len(counts), "throughput_cv": None}
    mean = sum(counts) / len(counts)
    variance = sum((c - mean) ** 2 for c in counts) / (len(counts) - 1)
    cv = (variance**0.5) / mean if mean else None
    return {"seconds": len(counts), "throughput_cv": round(cv, 3) if cv is not None else None}


def _step_cpu(
    monitor: CpuMonitor | None, start: float, end: float, generator_cpus: tuple[int, ...]
) -> dict[str, Any] | None:
    window = monitor.window(start, end) if monitor else None
    if window is None:
        return None
    return {
        "generator_percent": window.groups.get("generator"),
        "generator_busiest_process_percent": window.busiest_process.get("generator"),
        "service_percent": window.groups.get("service"),
        "database_percent": window.groups.get("database"),
        "pgbouncer_percent": window.groups.get("pgbouncer"),
        "cores_percent": {str(core): busy for core, busy in window.cores.items()},
        "steal_percent": window.steal,
        "generator_saturated": generator_saturated(window, generator_cpus),
    }


def timeseries(recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """Per second: requests, errors and latency percentiles, with the step's users."""
    series = recorded["series"]
    if not series:
        return []
    first = min(int(second) for second in series)
    windows = [(meta["started_at"], meta["users"]) for meta in recorded["steps"].values()]
    points = []
    for second, data in sorted(series.items(), key=lambda item: int(item[0])):
        tally = Tally.from_dict(data)
        percentiles = tally.latency.percentiles((50.0, 95.0, 99.0))
        users = max((u for started, u in windows if started <= int(second) + 1), default=0)
        points.append(
            {
                "t": int(second) - first,
                "epoch": int(second),
                "users": users,
                "requests": tally.latency.count,
                "errors": sum(tally.errors.values()),
                "p50_ms": _ms(percentiles[50.0]),
                "p95_ms": _ms(percentiles[95.0]),
                "p99_ms": _ms(percentiles[99.0]),
            }
        )
    return points


def recorded_totals(recorded: dict[str, Any]) -> dict[str, Any]:
    totals = _tallies(recorded["totals"])
    per_worker: Counter[str] = Counter(recorded.get("per_worker", {}))
    return {
        "requests": sum(t.latency.count for t in totals.values()),
        "per_endpoint": {name: t.latency.count for name, t in sorted(totals.items())},
        "per_worker": dict(per_worker),
    }


def write(run_dir: Path, results: dict[str, Any]) -> Path:
    """Atomically, so a reader never sees half a file."""
    path = run_dir / FILENAME
    tmp = run_dir / f".{FILENAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(results, indent=1, sort_keys=False))
    tmp.replace(path)
    return path


def load(run_dir: Path | str) -> dict[str, Any]:
    """A run's results, or a one-line SuiteError saying what is wrong with them."""
    run_dir = Path(run_dir)
    path = run_dir / FILENAME if run_dir.is_dir() else run_dir
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SuiteError(f"no {FILENAME} in {run_dir}") from None
    except (OSError, ValueError) as exc:
        raise SuiteError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise SuiteError(f"{path} is not a results file of schema version {SCHEMA_VERSION}")
    problem = schema_problem(data)
    if problem:
        raise SuiteError(f"{path} does not match the results schema: {problem}")
    return data


def schema_problem(data: dict[str, Any]) -> str | None:
    """The first schema violation, or None. Skipped when jsonschema is not installed."""
    try:
        import jsonschema
    except ImportError:
        return None
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    error = next(iter(sorted(validator.iter_errors(data), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = "/".join(str(part) for part in error.path) or "(top level)"
    return f"{where}: {error.message}"
