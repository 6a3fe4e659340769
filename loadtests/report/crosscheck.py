"""The second load generator in the report: wrk's figures beside Locust's, per variant
(measured by loadtests/run/extras/crosscheck.py), and the warnings where they disagree."""

from __future__ import annotations

from typing import Any

from loadtests.plan import NETWORK_TIMEOUT_S
from loadtests.report import fmt
from loadtests.results.models import CrossCheckRun, RunResults

TOLERANCE = 0.15  # wrk's figure may differ from Locust's by this fraction of Locust's (a choice)


def line(outcome: CrossCheckRun) -> str:
    parts = []
    for name, figures in (("Locust", outcome.locust), ("wrk", outcome.wrk)):
        if figures is not None:
            failed = sum(figures.failures.values())
            parts.append(
                f"{name} {fmt.number(figures.throughput_rps)} req/s, p50 {fmt.ms(figures.p50_ms)}"
                + (f", {failed:,} failed" if failed else "")
            )
    if outcome.error:
        parts.append(f"not measured ({outcome.error})")
    return " | ".join(parts)


def change(locust: float | None, wrk: float | None) -> float | None:
    """wrk's figure relative to Locust's: +0.2 is 20% more."""
    if not locust or wrk is None:
        return None
    return wrk / locust - 1


def _metrics(run: CrossCheckRun) -> list[tuple[str, float | None, float | None, str]]:
    locust, wrk = run.locust, run.wrk
    return [
        (
            "throughput",
            locust.throughput_rps if locust else None,
            wrk.throughput_rps if wrk else None,
            "req/s",
        ),
        ("p50", locust.p50_ms if locust else None, wrk.p50_ms if wrk else None, "ms"),
    ]


def disagreements(results: RunResults) -> list[str]:
    """Warnings: a variant the generators disagree on by more than TOLERANCE, or one that
    could not be cross-checked."""
    cross = results.cross_check
    if cross is None:
        return []
    found = []
    for run in cross.runs:
        label = results.label(run.variant)
        if run.error:
            found.append(f"Cross-check, {label}: not measured ({run.error}).")
            continue
        gaps = [
            f"{metric} {_value(locust, unit)} from Locust, {_value(wrk, unit)} from wrk "
            f"({gap:+.0%})"
            for metric, locust, wrk, unit in _metrics(run)
            if (gap := change(locust, wrk)) is not None and abs(gap) > TOLERANCE
        ]
        if gaps:
            found.append(
                f"The two load generators disagree on {label} ({cross.endpoint} at "
                f"{cross.users} users): {'; '.join(gaps)}. They ran one after the other, so "
                "the machine's drift between two windows is part of it; if it recurs, Locust "
                "itself is part of the numbers."
            )
    return found


def summary(results: RunResults) -> list[str]:
    """The terminal's lines after the run's table."""
    cross = results.cross_check
    if cross is None:
        return []
    if cross.note:
        return [f"\ncross-check skipped: {cross.note}"]
    lines = [f"\ncross-check, {cross.endpoint} at {cross.users} users:"]
    lines += [f"  {results.label(run.variant)}: {line(run)}" for run in cross.runs]
    lines += [f"  {text}" for text in disagreements(results)]
    return lines


def _value(value: float | None, unit: str) -> str:
    return fmt.ms(value) if unit == "ms" else f"{fmt.number(value)} req/s"


def view(results: RunResults) -> dict[str, Any]:
    """The trust panel's cross-check: one row per variant, both generators side by side."""
    cross = results.cross_check
    rows = []
    for run in cross.runs if cross else []:
        row: dict[str, Any] = {"variant": run.variant, "error": run.error}
        for metric, locust, wrk, _ in _metrics(run):
            gap = change(locust, wrk)
            row[metric] = {
                "locust": locust,
                "wrk": wrk,
                "change": gap,
                "flagged": gap is not None and abs(gap) > TOLERANCE,
            }
        row["failures"] = {
            name: sum(figures.failures.values())
            for name, figures in (("Locust", run.locust), ("wrk", run.wrk))
            if figures is not None and figures.failures
        }
        row["wrk_latency_includes_failures"] = bool(run.wrk and run.wrk.latency_includes_failures)
        rows.append(row)
    return {"cross": cross, "rows": rows, "tolerance": TOLERANCE, "timeout": NETWORK_TIMEOUT_S}
