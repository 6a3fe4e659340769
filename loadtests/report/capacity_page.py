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
    if found.low_rps is None and found.high_rps is None:
        # Beside it the search's bracket: what was measured, though near a knee one window
        # passes or fails by chance, so the estimate may lie outside it.
        return (
            f"about {_rps(found.capacity_rps)}{unit} (no interval: {found.note}; the search's "
            f"bracket: within the target at {_rps(found.within_rps)}, beyond it at "
            f"{_rps(found.beyond_rps)})"
        )
    open_end = f": {found.note}" if found.note else ""
    return f"{_rps(found.capacity_rps)}{unit} ({interval(found)}{open_end})"


def interval(found: Estimate) -> str:
    """'450-490', or with an open end '450 or more', 'up to 490'; '-' without one."""
    low, high = found.low_rps, found.high_rps
    if not _has_interval(found):
        return "-"
    if high is None:
        return f"{_rps(low)} or more"
    return f"up to {_rps(high)}" if low is None else f"{_rps(low)}-{_rps(high)}"


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
    overlapping intervals may still differ). An open end reaches as far as it may."""
    base = found.variants[0]
    ours = found.estimates.get(base)
    if ours is None or not _has_interval(ours):
        return []
    lines = []
    for variant, theirs in found.estimates.items():
        if variant == base or not _has_interval(theirs):
            continue
        name, baseline = found.labels[variant], found.labels[base]
        if _above(theirs, ours):
            lines.append(f"{name} sustains more than {baseline}: the intervals do not overlap.")
        elif _above(ours, theirs):
            lines.append(f"{name} sustains less than {baseline}: the intervals do not overlap.")
        else:
            lines.append(
                f"{name} and {baseline}: no significant difference (the intervals overlap)."
            )
    return lines


def _has_interval(found: Estimate) -> bool:
    return found.status == "estimated" and (found.low_rps, found.high_rps) != (None, None)


def _above(upper: Estimate, lower: Estimate) -> bool:
    """Whether ``upper``'s interval lies wholly above ``lower``'s."""
    return (
        upper.low_rps is not None
        and lower.high_rps is not None
        and (upper.low_rps > lower.high_rps)
    )


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
        "intervals": {
            v: f"{interval(e)} req/s" if _has_interval(e) else "-"
            for v, e in found.estimates.items()
        },
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
