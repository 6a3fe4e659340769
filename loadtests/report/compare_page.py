"""``compare RUN_A RUN_B``: two runs side by side (PgBouncer off vs on, two machines...).

Every variant the two runs share, in every scenario both measured, step by step: run B
against run A, as medians over each run's rounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from loadtests.report import charts, render, run_page
from loadtests.results import analysis, store
from loadtests.results.models import RunResults

FILENAME = "index.html"
FIGURES = ("throughput", "p50", "p95", "p99", "error_rate")


def _setup_paths(data: RunResults) -> dict[str, Any]:
    """Where two runs' setups may differ, shown at the top of the comparison."""
    machine = data.environment.machine
    return {
        "PgBouncer": run_page.pgbouncer_summary(data),
        "asyncpg prepared statements": run_page.statement_cache_summary(data),
        "CPU layout": data.cpu_layout.note,
        "CPU": machine.get("cpu_model"),
        "logical CPUs": machine.get("logical_cpus"),
        "PostgreSQL": data.database.settings.get("server_version"),
        "database": data.database.kind,
        "database reset": "; ".join(
            f"{name}: not reset ({s.reset_refused})"
            for name, s in data.scenarios.items()
            if s.reset_refused
        )
        or "before each scenario",
        "Locust processes": data.run.locust_processes,
        "rounds": data.run.rounds,
    }


def setup_differences(a: RunResults, b: RunResults) -> list[dict[str, Any]]:
    setup_a, setup_b = _setup_paths(a), _setup_paths(b)
    rows = [
        {
            "label": label,
            "a": setup_a[label],
            "b": setup_b[label],
            "differs": setup_a[label] != setup_b[label],
        }
        for label in setup_a
    ]
    for scenario in sorted(set(a.scenarios) & set(b.scenarios)):
        plan_a, plan_b = a.scenarios[scenario].plan, b.scenarios[scenario].plan
        if plan_a != plan_b:
            rows.append(
                {
                    "label": f"{scenario} plan",
                    "a": plan_a.model_dump(),
                    "b": plan_b.model_dump(),
                    "differs": True,
                }
            )
    for variant in sorted(set(a.variants) & set(b.variants)):
        sa, sb = a.variants[variant].settings, b.variants[variant].settings
        for key in sorted(set(sa) | set(sb)):
            if sa.get(key) != sb.get(key):
                rows.append(
                    {
                        "label": f"{variant} {key}",
                        "a": sa.get(key),
                        "b": sb.get(key),
                        "differs": True,
                    }
                )
    return rows


def _delta(a: float, b: float) -> dict[str, Any]:
    """B relative to A, uncoloured: two runs are not paired block by block, and runs
    taken at different times differ by the machine's drift, which neither run's own
    blocks measure; a colour would claim a significance nothing here tested."""
    if a == 0:
        return {"text": "-" if b == 0 else "new", "class": ""}
    return {"text": f"{(b - a) / a:+.0%}", "class": ""}


def view(a: RunResults, b: RunResults) -> dict[str, Any]:
    labels = {**run_page.labels_of(a), **run_page.labels_of(b)}
    colors = charts.palette([*a.run.variants, *b.run.variants])
    scenarios, all_charts = [], []
    for index, name in enumerate(s for s in a.scenarios if s in b.scenarios):
        cells_a, cells_b = analysis.grid(a, name), analysis.grid(b, name)
        shared = [v for v in cells_a if v in cells_b]
        rows = []
        series: analysis.Grid = {}
        for variant in shared:
            series[f"{variant}@A"], series[f"{variant}@B"] = cells_a[variant], cells_b[variant]
            for users in sorted(set(cells_a[variant]) & set(cells_b[variant])):
                ca, cb = cells_a[variant][users], cells_b[variant][users]
                cells = []
                for figure in FIGURES:
                    metric = analysis.METRICS[figure]
                    va, vb = ca.value(figure), cb.value(figure)
                    cells.append(
                        {
                            "metric": metric,
                            "a": va,
                            "b": vb,
                            "delta": _delta(va, vb),
                        }
                    )
                rows.append({"variant": variant, "users": users, "cells": cells})
        if not rows:
            continue
        series_labels = {key: f"{labels[key.split('@')[0]]} run {key[-1]}" for key in series}
        run_b = frozenset(key for key in series if key.endswith("@B"))
        figures = charts.versus_users(f"c{index}", series, series_labels, colors, run_b)
        figures = [f for f in figures if not f["id"].endswith("-latency")] + [
            _p99_only(f) for f in figures if f["id"].endswith("-latency")
        ]
        all_charts += figures
        scenarios.append({"name": name, "rows": rows, "charts": figures})
    if not scenarios:
        raise SuiteError(
            f"runs {a.run.id} and {b.run.id} have no step in common "
            "(same scenario, variant and user count)"
        )
    return {
        "a": a,
        "b": b,
        "labels": labels,
        "scenarios": scenarios,
        "charts": all_charts,
        "setup": setup_differences(a, b),
        "figures": [analysis.METRICS[f] for f in FIGURES],
    }


def _p99_only(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        **spec,
        "title": "p99 latency (run B drawn thicker)",
        "series": [s for s in spec["series"] if s["label"].endswith("p99")],
    }


def build(run_a: Path, run_b: Path, out_dir: Path) -> Path:
    a, b = store.load(run_a), store.load(run_b)
    context = view(a, b)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render.page(
        "compare.html.j2", charts_json=render.script_json(context["charts"]), **context
    )
    return render.write(out_dir / FILENAME, html)
