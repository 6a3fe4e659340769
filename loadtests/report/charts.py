"""Chart specifications: what each chart shows, as JSON the page's script draws with uPlot.

A spec is ``{id, title, x: {label, values, log}, y: {label, log}, series: [{label,
color, dash, values, scale?}]}``; ``values`` hold null where a series has no point.
Both services are always drawn on the same axes, Flask in blue and FastAPI in orange.
Series are keyed by service name, or ``service@run`` when two runs share a chart; the
key decides the colour, and emphasised keys (run B in a comparison) are drawn thicker.
"""

from __future__ import annotations

from typing import Any

SERVICE_COLORS = {"flask": "#1f6feb", "fastapi": "#e8590c"}
EXTRA_COLORS = ("#2f9e44", "#ae3ec9", "#868e96", "#0c8599")
METRIC_DASH = {"p50": [2, 4], "p95": [8, 4], "p99": []}


EMPHASIS = {"width": 3, "dash": [10, 3]}  # the dash replaces solid lines only


def color(key: str, index: int = 0) -> str:
    service = key.split("@", 1)[0]
    return SERVICE_COLORS.get(service, EXTRA_COLORS[index % len(EXTRA_COLORS)])


def _style(key: str, index: int, dash: list[int], emphasised: frozenset[str]) -> dict[str, Any]:
    style: dict[str, Any] = {"color": color(key, index), "dash": dash}
    if key in emphasised:
        style.update(dash=dash or EMPHASIS["dash"], width=EMPHASIS["width"])
    return style


def _by_users(steps: dict[int, dict[str, Any]], users: list[int], pick: Any) -> list[Any]:
    return [pick(steps[u]) if u in steps else None for u in users]


def _one_line_per_service(
    per_service: dict[str, dict[int, dict[str, Any]]],
    labels: dict[str, str],
    users: list[int],
    pick: Any,
    emphasised: frozenset[str],
) -> list[dict[str, Any]]:
    return [
        {
            "label": labels[name],
            **_style(name, i, [], emphasised),
            "values": _by_users(steps, users, pick),
        }
        for i, (name, steps) in enumerate(per_service.items())
    ]


def versus_users(
    chart_id: str,
    per_service: dict[str, dict[int, dict[str, Any]]],
    labels: dict[str, str],
    users: list[int],
    emphasised: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Latency percentiles, throughput and error rate against concurrency."""
    x = {"label": "concurrent users", "values": users, "log": True}
    latency = []
    for index, (name, steps) in enumerate(per_service.items()):
        for metric, dash in METRIC_DASH.items():
            latency.append(
                {
                    "label": f"{labels[name]} {metric}",
                    **_style(name, index, dash, emphasised),
                    "values": _by_users(steps, users, lambda s, m=metric: s["latency_ms"][m]),
                }
            )
    throughput = _one_line_per_service(
        per_service, labels, users, lambda s: s["throughput_rps"], emphasised
    )
    errors = _one_line_per_service(
        per_service, labels, users, lambda s: round(s["error_rate"] * 100, 4), emphasised
    )
    return [
        {
            "id": f"{chart_id}-latency",
            "title": "Latency percentiles (p50 dotted, p95 dashed, p99 solid)",
            "x": x,
            "y": {"label": "ms (log scale)", "log": True},
            "series": latency,
        },
        {
            "id": f"{chart_id}-throughput",
            "title": "Throughput",
            "x": x,
            "y": {"label": "requests per second", "log": False},
            "series": throughput,
        },
        {
            "id": f"{chart_id}-errors",
            "title": "Error rate",
            "x": x,
            "y": {"label": "% of requests", "log": False},
            "series": errors,
        },
    ]


def over_time(
    chart_id: str, outcomes: dict[str, dict[str, Any]], labels: dict[str, str]
) -> dict[str, Any]:
    """p50 and p99 per second through the steps, with the user count on a second axis."""
    seconds = sorted({p["t"] for o in outcomes.values() for p in o.get("timeseries", [])})
    series = []
    for index, (name, outcome) in enumerate(outcomes.items()):
        points = {p["t"]: p for p in outcome.get("timeseries", [])}
        for metric in ("p50", "p99"):
            series.append(
                {
                    "label": f"{labels[name]} {metric}",
                    "color": color(name, index),
                    "dash": METRIC_DASH[metric],
                    "values": [
                        points[t][f"{metric}_ms"] if t in points and points[t]["requests"] else None
                        for t in seconds
                    ],
                }
            )
    users_line = {}
    for outcome in outcomes.values():
        for point in outcome.get("timeseries", []):
            users_line[point["t"]] = max(users_line.get(point["t"], 0), point["users"])
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
        "title": "Latency over time, through the steps (warm-ups included)",
        "x": {
            "label": "seconds since the service's Locust run started",
            "values": seconds,
            "log": False,
        },
        "y": {"label": "ms (log scale)", "log": True},
        "series": series,
    }


def per_endpoint(
    chart_id: str,
    per_service: dict[str, dict[int, dict[str, Any]]],
    labels: dict[str, str],
    users: list[int],
) -> list[dict[str, Any]]:
    """Small multiples: one chart per endpoint, p95 and p50 of both services vs users."""
    endpoints = sorted(
        {e for steps in per_service.values() for s in steps.values() for e in s["endpoints"]}
    )
    if len(endpoints) < 2:
        return []
    charts = []
    for number, endpoint in enumerate(endpoints):
        series = []
        for index, (name, steps) in enumerate(per_service.items()):
            for metric in ("p50", "p95"):
                series.append(
                    {
                        "label": f"{labels[name]} {metric}",
                        "color": color(name, index),
                        "dash": METRIC_DASH[metric],
                        "values": _by_users(
                            steps,
                            users,
                            lambda s, m=metric, e=endpoint: (
                                s["endpoints"][e]["latency_ms"][m] if e in s["endpoints"] else None
                            ),
                        ),
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
