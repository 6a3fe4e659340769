"""A capacity search's page (``<capacity dir>/index.html``) and its words: the headline,
each variant's estimate, the hockey-stick chart and every probe behind them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.report import charts, fmt, render
from loadtests.results import capacity
from loadtests.results.capacity import CapacityResults, Estimate
from loadtests.results.models import LAG_WARN_MS

FILENAME = "index.html"


def _rps(value: float | None) -> str:
    return fmt.number(value) if value is not None else "?"


def figure(found: Estimate, unit: str = " req/s") -> str:
    """One variant's capacity in words: '470 req/s (450-490)', 'at least 800 req/s'..."""
    if found.status == "at least":
        return f"at least {_rps(found.within_rps)}{unit} (within the target at every rate tried)"
    if found.status == "below":
        return f"less than {_rps(found.beyond_rps)}{unit} (beyond the target at every rate tried)"
    if found.status == "unresolved" or found.capacity_rps is None:
        return (
            f"between {_rps(found.within_rps)} and {_rps(found.beyond_rps)}{unit} "
            f"(not placed more precisely: {found.note})"
        )
    if found.low_rps is None or found.high_rps is None:
        # Beside it the search's bracket: what was measured, though near a knee one window
        # passes or fails by chance, so the line's crossing may lie outside it.
        return (
            f"about {_rps(found.capacity_rps)}{unit} (no interval: {found.note}; the search's "
            f"bracket: within the target at {_rps(found.within_rps)}, beyond it at "
            f"{_rps(found.beyond_rps)})"
        )
    return f"{_rps(found.capacity_rps)}{unit} ({_rps(found.low_rps)}-{_rps(found.high_rps)})"


def headline(found: CapacityResults) -> str:
    """'At p99 ≤ 250 ms, Flask sustains 470 req/s (450-490), FastAPI 380 (...), ...'"""
    known = [v for v in found.variants if v in found.estimates]
    if not known:
        return f"At {found.slo.label}: nothing measured yet."
    parts = [
        f"{found.labels[v]}{' sustains' if i == 0 else ''} "
        f"{figure(found.estimates[v], ' req/s' if i == 0 else '')}"
        for i, v in enumerate(known)
    ]
    return f"At {found.slo.label}, " + ", ".join(parts) + "."


def differences(found: CapacityResults) -> list[str]:
    """Which estimates differ: intervals that do not overlap (a conservative reading:
    overlapping intervals may still differ)."""
    bounded = {
        v: e for v, e in found.estimates.items() if e.low_rps is not None and e.high_rps is not None
    }
    base = found.variants[0]
    if base not in bounded:
        return []
    ours = bounded[base]
    lines = []
    for variant, theirs in bounded.items():
        if variant == base:
            continue
        assert ours.low_rps is not None and ours.high_rps is not None
        assert theirs.low_rps is not None and theirs.high_rps is not None
        name, baseline = found.labels[variant], found.labels[base]
        if theirs.low_rps > ours.high_rps:
            lines.append(f"{name} sustains more than {baseline}: the intervals do not overlap.")
        elif theirs.high_rps < ours.low_rps:
            lines.append(f"{name} sustains less than {baseline}: the intervals do not overlap.")
        else:
            lines.append(
                f"{name} and {baseline}: no significant difference (the intervals overlap)."
            )
    return lines


def warnings(found: CapacityResults) -> list[str]:
    """What makes a figure less trustworthy, naming the probes."""
    found_lines = []
    late = sorted({(p.variant, p.rate) for p in found.probes if (p.lag_p99_ms or 0) > LAG_WARN_MS})
    if late:
        where = ", ".join(f"{found.labels[v]} at {r} req/s" for v, r in late)
        found_lines.append(
            f"The generator fell behind its schedule (lag p99 over {LAG_WARN_MS:g} ms) at {where}: "
            "latency there is understated, and a capacity near those rates may be too high."
        )
    saturated = sorted({(p.variant, p.rate) for p in found.probes if p.generator_saturated})
    if saturated:
        where = ", ".join(f"{found.labels[v]} at {r} req/s" for v, r in saturated)
        found_lines.append(f"Locust was CPU-saturated at {where}.")
    if found.status != "complete":
        found_lines.append(f"The search is {found.status}: {found.error or 'not finished'}.")
    return found_lines


def _probe_rows(found: CapacityResults) -> list[dict[str, Any]]:
    return [
        {
            "variant": p.variant,
            "rate": p.rate,
            "phase": p.phase,
            "run": p.run,
            "block": p.block,
            "latency": p.latency_ms,
            "throughput": p.throughput_rps,
            "failures": p.failure_rate,
            "dropped": p.dropped,
            "lag": p.lag_p99_ms,
            "settle": p.settle_s,
            "score": p.score,
            "within": p.within,
        }
        for p in sorted(found.probes, key=lambda p: (found.variants.index(p.variant), p.rate))
    ]


def view(found: CapacityResults) -> dict[str, Any]:
    colors = charts.palette(found.variants)
    return {
        "found": found,
        "headline": headline(found),
        "differences": differences(found),
        "warnings": warnings(found),
        "figures": {v: figure(e) for v, e in found.estimates.items()},
        "colors": colors,
        "hockey": charts.hockey_stick("capacity", found, colors),
        "probes": _probe_rows(found),
        "runs": found.runs,
        "rates_past_the_ramp": rates_past_the_ramp(found),
        "percentile_fields": capacity.PERCENTILES,
    }


def rates_past_the_ramp(found: CapacityResults) -> list[int]:
    """The rates the ramp phase measured beyond the ramp's own, ascending."""
    ramp = set(found.settings.ramp)
    return sorted({p.rate for p in found.probes if p.phase == "ramp" and p.rate not in ramp})


def build(directory: Path) -> Path:
    found = capacity.load(directory)
    context = view(found)
    html = render.page(
        "capacity.html.j2", charts_json=render.script_json([context["hockey"]]), **context
    )
    return render.write(directory / FILENAME, html)
