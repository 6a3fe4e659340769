"""``compare RUN_A RUN_B``: two runs side by side (PgBouncer off vs on, two machines...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests import results
from loadtests.errors import SuiteError
from loadtests.report import charts, render, run_page, verdicts

FILENAME = "index.html"
FIGURES = (
    ("throughput_rps", "req/s", False),
    ("p50", "p50", True),
    ("p95", "p95", True),
    ("p99", "p99", True),
    ("error_rate", "error rate", True),
)
# Where the two runs' setups may differ, shown at the top of the comparison.
SETUP_PATHS = (
    ("CPU layout", ("cpu_layout", "note")),
    ("CPU", ("environment", "machine", "cpu_model")),
    ("logical CPUs", ("environment", "machine", "logical_cpus")),
    ("PostgreSQL", ("database", "settings", "server_version")),
    ("database", ("database", "kind")),
    ("Locust processes", ("run", "locust_processes")),
    ("step seconds", ("run", "step_seconds")),
    ("warm-up seconds", ("run", "warmup_seconds")),
)


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key, {}) if isinstance(data, dict) else {}
    return data if data != {} else None


def _value(step: dict[str, Any], figure: str) -> float:
    return (
        step[figure] if figure in ("throughput_rps", "error_rate") else step["latency_ms"][figure]
    )


def _delta(a: float, b: float, lower_is_better: bool) -> dict[str, Any]:
    if a == 0:
        return {"text": "-" if b == 0 else "new", "class": ""}
    change = (b - a) / a
    better = (change < 0) if lower_is_better else (change > 0)
    css = "" if abs(change) < verdicts.SAME - 1 else ("delta-better" if better else "delta-worse")
    return {"text": f"{change:+.0%}", "class": css}


def setup_differences(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, describe in (
        ("PgBouncer", run_page.pgbouncer_summary),
        ("asyncpg prepared statements", run_page.statement_cache_summary),
    ):
        va, vb = describe(a), describe(b)
        rows.append({"label": label, "a": va, "b": vb, "differs": va != vb})
    for label, path in SETUP_PATHS:
        va, vb = _get(a, path), _get(b, path)
        rows.append({"label": label, "a": va, "b": vb, "differs": va != vb})
    services = sorted(set(a["services"]) & set(b["services"]))
    for service in services:
        sa, sb = a["services"][service]["settings"], b["services"][service]["settings"]
        for key in sorted(set(sa) | set(sb)):
            if sa.get(key) != sb.get(key):
                rows.append(
                    {
                        "label": f"{service} {key}",
                        "a": sa.get(key),
                        "b": sb.get(key),
                        "differs": True,
                    }
                )
    return rows


def view(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    labels = {**run_page.labels_of(a), **run_page.labels_of(b)}
    scenarios = []
    all_charts = []
    for index, name in enumerate(s for s in a["scenarios"] if s in b["scenarios"]):
        services = [
            s
            for s in a["run"]["services"]
            if s in a["scenarios"][name]["results"] and s in b["scenarios"][name]["results"]
        ]
        rows = []
        series_steps: dict[str, dict[int, dict[str, Any]]] = {}
        for service in services:
            steps_a = verdicts.steps_by_users(a["scenarios"][name]["results"][service])
            steps_b = verdicts.steps_by_users(b["scenarios"][name]["results"][service])
            series_steps[f"{service}@A"] = steps_a
            series_steps[f"{service}@B"] = steps_b
            for users in sorted(set(steps_a) & set(steps_b)):
                cells = []
                for figure, title, lower in FIGURES:
                    va, vb = _value(steps_a[users], figure), _value(steps_b[users], figure)
                    cells.append(
                        {
                            "figure": figure,
                            "title": title,
                            "a": va,
                            "b": vb,
                            "delta": _delta(va, vb, lower),
                        }
                    )
                rows.append({"service": service, "users": users, "cells": cells})
        if not rows:
            continue
        users = sorted({r["users"] for r in rows})
        series_labels = {key: f"{labels[key.split('@')[0]]} run {key[-1]}" for key in series_steps}
        run_b = frozenset(key for key in series_steps if key.endswith("@B"))
        figures = charts.versus_users(f"c{index}", series_steps, series_labels, users, run_b)
        figures = [f for f in figures if not f["id"].endswith("-latency")] + [
            _p99_only(f) for f in figures if f["id"].endswith("-latency")
        ]
        all_charts += figures
        scenarios.append({"name": name, "rows": rows, "charts": figures})
    if not scenarios:
        raise SuiteError(
            f"runs {a['run']['id']} and {b['run']['id']} have no step in common "
            "(same scenario, service and user count)"
        )
    return {
        "a": a,
        "b": b,
        "labels": labels,
        "scenarios": scenarios,
        "charts": all_charts,
        "setup": setup_differences(a, b),
        "figures": FIGURES,
    }


def _p99_only(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        **spec,
        "title": "p99 latency (run B drawn thicker)",
        "series": [s for s in spec["series"] if s["label"].endswith("p99")],
    }


def build(run_a: Path, run_b: Path, out_dir: Path) -> Path:
    a, b = results.load(run_a), results.load(run_b)
    context = view(a, b)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render.page(
        "compare.html.j2", charts_json=render.script_json(context["charts"]), **context
    )
    return render.write(out_dir / FILENAME, html)
