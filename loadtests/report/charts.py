"""Chart specifications: what each chart shows, as JSON the page's script draws with uPlot.

A spec is ``{id, title, x: {label, values, log}, y: {label, log}, series: [{label,
color, dash, values, scale?, width?}]}``; ``values`` hold null where a series has no
point. Every variant is drawn on the same axes in its own colour, the same in every
chart: built-in variants always get the same colour, others take the next free one.
Series are keyed by variant name, or ``variant@run`` when two runs share a chart; the
key decides the colour, and emphasised keys (run B in a comparison) are drawn thicker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from loadtests.results.analysis import Cell, Grid
from loadtests.results.capacity import CapacityResults
from loadtests.results.stats import geometric_mean

# Distinct hues (Tableau 10 after the two original stacks' blue and orange).
VARIANT_COLORS = {
    "flask": "#1f6feb",
    "fastapi": "#e8590c",
    "fastapi:fair": "#2ca02c",
    "fastapi:raw": "#9467bd",
    "fastapi:hybrid": "#17becf",
    "fastapi:sync-def": "#8c564b",
    "fastapi:blocking": "#d62728",
    "flask:sync": "#e377c2",
}
EXTRA_COLORS = ("#7f7f7f", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39")
METRIC_DASH = {"p50": [2, 4], "p95": [8, 4], "p99": []}
EMPHASIS = {"width": 3, "dash": [10, 3]}  # the dash replaces solid lines only


def palette(names: Iterable[str]) -> dict[str, str]:
    """A colour per variant: built-in ones fixed, the others from a list, in order."""
    extra = iter(EXTRA_COLORS * 4)
    return {name: VARIANT_COLORS.get(name) or next(extra) for name in dict.fromkeys(names)}


def _style(
    key: str, colors: dict[str, str], dash: list[int], emphasised: frozenset[str]
) -> dict[str, Any]:
    style: dict[str, Any] = {"color": colors[key.split("@", 1)[0]], "dash": dash}
    if key in emphasised:
        style.update(dash=dash or EMPHASIS["dash"], width=EMPHASIS["width"])
    return style


def _by_users(steps: dict[int, Cell], users: list[int], pick: Callable[[Cell], Any]) -> list[Any]:
    return [pick(steps[u]) if u in steps else None for u in users]


def _metric_of(metric: str) -> Callable[[Cell], float]:
    """A cell's median of one metric (a function, so the loop variable is bound now)."""
    return lambda c: c.value(metric)


def _endpoint_metric_of(endpoint: str, metric: str) -> Callable[[Cell], float | None]:
    """One endpoint's latency percentile in a cell's step; None if the step lacks it."""

    def pick(c: Cell) -> float | None:
        endpoints = c.step.endpoints
        return getattr(endpoints[endpoint].latency_ms, metric) if endpoint in endpoints else None

    return pick


def latency_metrics(count: int) -> tuple[str, ...]:
    """p50, p95 and p99 for two variants; the tail and the median only for more."""
    return ("p50", "p95", "p99") if count <= 2 else ("p50", "p99")


def versus_users(
    chart_id: str,
    cells: Grid,
    labels: dict[str, str],
    colors: dict[str, str],
    emphasised: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Latency percentiles, throughput and error rate against concurrency (medians across
    rounds)."""
    users = sorted({u for steps in cells.values() for u in steps})
    x = {"label": "concurrent users", "values": users, "log": True}
    metrics = latency_metrics(len(cells))
    latency = [
        {
            "label": f"{labels[key]} {metric}",
            **_style(key, colors, METRIC_DASH[metric], emphasised),
            "values": _by_users(steps, users, _metric_of(metric)),
        }
        for key, steps in cells.items()
        for metric in metrics
    ]

    def one_line(pick: Callable[[Cell], Any]) -> list[dict[str, Any]]:
        return [
            {
                "label": labels[key],
                **_style(key, colors, [], emphasised),
                "values": _by_users(steps, users, pick),
            }
            for key, steps in cells.items()
        ]

    dashes = ", ".join(
        f"{m} {'solid' if not METRIC_DASH[m] else 'dotted' if m == 'p50' else 'dashed'}"
        for m in metrics
    )
    return [
        {
            "id": f"{chart_id}-latency",
            "title": f"Latency of successful requests ({dashes})",
            "x": x,
            "y": {"label": "ms (log scale)", "log": True},
            "series": latency,
        },
        {
            "id": f"{chart_id}-throughput",
            "title": "Throughput (successful requests per second)",
            "x": x,
            "y": {"label": "requests per second", "log": False},
            "series": one_line(lambda c: c.value("throughput")),
        },
        {
            "id": f"{chart_id}-errors",
            "title": "Error rate",
            "x": x,
            "y": {"label": "% of requests", "log": False},
            "series": one_line(lambda c: round(c.value("error_rate") * 100, 4)),
        },
    ]


def over_time(
    chart_id: str,
    timeseries: dict[str, list[Any]],
    labels: dict[str, str],
    colors: dict[str, str],
) -> dict[str, Any]:
    """p50 and p99 per second through the steps (one round per variant), with the user
    count on a second axis."""
    seconds = sorted({p.t for points in timeseries.values() for p in points})
    series = []
    for name, points in timeseries.items():
        by_t = {p.t: p for p in points}
        for metric in ("p50", "p99"):
            series.append(
                {
                    "label": f"{labels[name]} {metric}",
                    "color": colors[name],
                    "dash": METRIC_DASH[metric],
                    "values": [
                        getattr(by_t[t], f"{metric}_ms") if t in by_t and by_t[t].requests else None
                        for t in seconds
                    ],
                }
            )
    users_line: dict[int, int] = {}
    for points in timeseries.values():
        for point in points:
            users_line[point.t] = max(users_line.get(point.t, 0), point.users)
    series.append(
        {
            "label": "users",
            "color": "#adb5bd",
            "dash": [],
            "scale": "users",
            "values": [users_line.get(t) for t in seconds],
        }
    )
    return {
        "id": f"{chart_id}-time",
        "title": "Latency over time, each variant in its turns (warm-ups included)",
        "x": {
            "label": "seconds since the variant's Locust run started",
            "values": seconds,
            "log": False,
        },
        "y": {"label": "ms (log scale)", "log": True},
        "series": series,
    }


def per_endpoint(
    chart_id: str, cells: Grid, labels: dict[str, str], colors: dict[str, str]
) -> list[dict[str, Any]]:
    """Small multiples: one chart per endpoint, p50 and p95 of every variant vs users."""
    users = sorted({u for steps in cells.values() for u in steps})
    endpoints = sorted(
        {e for steps in cells.values() for c in steps.values() for e in c.step.endpoints}
    )
    if len(endpoints) < 2:
        return []
    charts = []
    for number, endpoint in enumerate(endpoints):
        series = []
        for name, steps in cells.items():
            for metric in ("p50", "p95"):
                series.append(
                    {
                        "label": f"{labels[name]} {metric}",
                        "color": colors[name],
                        "dash": METRIC_DASH[metric],
                        "values": _by_users(steps, users, _endpoint_metric_of(endpoint, metric)),
                    }
                )
        charts.append(
            {
                "id": f"{chart_id}-endpoint-{number}",
                "title": endpoint,
                "small": True,
                "x": {"label": "users", "values": users, "log": True},
                "y": {"label": "ms (log)", "log": True},
                "series": series,
            }
        )
    return charts


def hockey_stick(chart_id: str, found: CapacityResults, colors: dict[str, str]) -> dict[str, Any]:
    """capacity: latency against offered rate per variant (each rate's geometric mean over
    its probes), the SLO as a line, and each variant's capacity marked on it."""
    field, slo = found.slo.field, found.slo.limit_ms
    marks = {
        name: e.capacity_rps
        for name, e in found.estimates.items()
        if e.capacity_rps is not None and e.status == "estimated"
    }
    xs = sorted({float(p.rate) for p in found.probes} | set(marks.values()))

    def curve(variant: str, metric: str) -> list[float | None]:
        at: dict[float, list[float]] = {}
        for probe in found.probes:
            if probe.variant == variant and probe.latency_ms[metric] > 0:
                at.setdefault(float(probe.rate), []).append(probe.latency_ms[metric])
        return [round(geometric_mean(at[x]), 3) if x in at else None for x in xs]

    series: list[dict[str, Any]] = []
    for variant in found.variants:
        label, color = found.labels[variant], colors[variant]
        series.append(
            {"label": f"{label} {found.slo.percentile}", "color": color, "dash": [],
             "spanGaps": True, "values": curve(variant, field)}
        )  # fmt: skip
        if field != "p50":
            series.append(
                {"label": f"{label} p50", "color": color, "dash": METRIC_DASH["p50"],
                 "spanGaps": True, "values": curve(variant, "p50")}
            )  # fmt: skip
        if variant in marks:
            series.append(
                {"label": f"{label} capacity", "color": color, "dash": [], "width": 0,
                 "marker": 11, "values": [slo if x == marks[variant] else None for x in xs]}
            )  # fmt: skip
    series.append(
        {"label": f"SLO {found.slo.label}", "color": "#555555", "dash": [6, 4], "width": 1,
         "values": [slo for _ in xs]}
    )  # fmt: skip
    return {
        "id": chart_id,
        "title": f"Latency against offered rate ({found.slo.percentile} solid"
        + (", p50 dotted" if field != "p50" else "")
        + "; dots: each variant's capacity on the SLO line)",
        "x": {"label": "requests per second offered", "values": xs, "log": False},
        "y": {"label": "ms, from the intended start (log scale)", "log": True},
        "series": series,
    }
