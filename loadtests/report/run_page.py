"""``reports/<run>/index.html``: one run's report, from its results.json alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.report import (
    audits,
    breakdown,
    charts,
    crosscheck,
    faults,
    fmt,
    published,
    render,
    verdicts,
)
from loadtests.results import analysis, store
from loadtests.results.models import RunResults

FILENAME = "index.html"
TABLE_METRICS = ("p50", "p90", "p95", "p99", "p99_9", "max")
VERSUS_METRICS = ("throughput", "p50", "p95", "p99", "error_rate")
ENVIRONMENT_KEYS = (
    ("cpu_model", "CPU"), ("logical_cpus", "logical CPUs"), ("physical_cpus", "physical cores"),
    ("memory_gib", "memory (GiB)"), ("os", "OS"), ("python", "Python"),
    ("load_average_at_start", "load average at start"),
)  # fmt: skip


def labels_of(data: RunResults) -> dict[str, str]:
    return {name: info.label for name, info in data.variants.items()}


def _step_rows(cells: analysis.Grid) -> list[dict[str, Any]]:
    """One row per variant and step: the pooled figures with their intervals (older
    results: one per round, then the median)."""
    rows = []
    for users in analysis.all_users(cells):
        for variant, steps in cells.items():
            cell = steps.get(users)
            if cell is None:
                continue
            if not cell.pooled:
                for round_number, step in zip(cell.rounds, cell.steps, strict=True):
                    rows.append(
                        {"users": users, "variant": variant, "round": round_number, "step": step}
                    )
            rows.append({"users": users, "variant": variant, "round": None, "cell": cell})
    return rows


def _block_rows(cells: analysis.Grid) -> list[dict[str, Any]]:
    """Every block's window of every variant, in time order within each step."""
    rows = []
    for users in analysis.all_users(cells):
        found = [
            (block, variant)
            for variant, steps in cells.items()
            if users in steps
            for step in steps[users].steps
            for block in step.blocks
        ]
        found.sort(key=lambda item: item[0].window.start)
        rows += [{"users": users, "variant": v, "block": b} for b, v in found]
    return rows


def scenario_view(
    name: str, data: RunResults, index: int, colors: dict[str, str]
) -> dict[str, Any]:
    labels = labels_of(data)
    scenario = data.scenarios[name]
    cells = analysis.grid(data, name)
    chart_id = f"s{index}"
    first_rounds = {
        run.variant: run.timeseries for run in scenario.runs if run.round == 1 and run.timeseries
    }  # older results: round 1
    figures = charts.versus_users(chart_id, cells, labels, colors)
    figures.append(charts.over_time(chart_id, first_rounds, labels, colors))
    disputed = crosscheck.disputed(data, name)
    headlines = verdicts.headlines(cells, labels, disputed)
    why = breakdown.tail_gap(cells, labels)
    if why and len(headlines) > 1:
        headlines.insert(1, why)
    fault = data.run.fault
    fault_line = faults.headline(fault, scenario, labels) if fault else None
    if fault_line:
        headlines.insert(0, fault_line)
    cross_line = crosscheck.headline(data, name)
    if cross_line:  # a disagreement qualifies every verdict after it, so it comes first
        headlines.insert(0 if disputed else min(2, len(headlines)), cross_line)
    audit_line = audits.headline(scenario, labels)
    if audit_line:
        headlines.insert(0, audit_line)
    fault_chart = faults.timeline(chart_id, scenario, labels, colors) if fault else None
    headlines = [fmt.levels(text, scenario.plan.unit) for text in headlines]
    return {
        "name": name,
        "anchor": f"scenario-{name}",
        "description": scenario.description,
        "plan": scenario.plan,
        "variants": list(cells),
        "baseline": scenario.variants[0],
        "runs": scenario.runs,
        "headlines": headlines,
        "breakdown": breakdown.rows(cells),
        "breakdown_sentences": breakdown.worst_step_sentences(cells, labels),
        "ceiling": scenario.ceiling,
        "ceiling_rows": _ceiling_rows(cells, scenario.ceiling),
        "database_time": {
            run.variant: run.database_time
            for run in scenario.runs
            if run.round == 1 and run.database_time is not None
        },
        "versus": verdicts.table(cells, VERSUS_METRICS),
        "disputed": disputed,
        "power": verdicts.power_statement(cells),
        "versus_metrics": [analysis.METRICS[m] for m in VERSUS_METRICS],
        "charts": figures,
        "endpoint_charts": charts.per_endpoint(chart_id, cells, labels, colors),
        "rows": _step_rows(cells),
        "block_rows": _block_rows(cells),
        "claims": published.checks(name, cells),
        "fault_runs": faults.rows(scenario),
        "fault_charts": [fault_chart] if fault_chart else [],
        "audit_runs": audits.rows(scenario),
        "reset": scenario.reset,
        "reset_refused": scenario.reset_refused,
        "design": scenario.design,
        "locust_run": {
            "recorded": scenario.recorded,
            "counts": scenario.locust_counts,
            "files": scenario.locust,
        }
        if scenario.locust
        else None,
    }


def _ceiling_rows(cells: analysis.Grid, ceiling: Any) -> list[dict[str, Any]]:
    """Each variant's throughput at each step as a share of PostgreSQL alone."""
    if ceiling is None or not ceiling.tps:
        return []
    return [
        {
            "users": users,
            "shares": {
                variant: steps[users].value("throughput") / ceiling.tps if users in steps else None
                for variant, steps in cells.items()
            },
        }
        for users in analysis.all_users(cells)
    ]


def settings_table(data: RunResults) -> list[dict[str, Any]]:
    """Every setting of every variant side by side; values that differ from the
    baseline's are flagged (a variant that does not read a setting shows a dash)."""
    names = list(data.variants)
    baseline = data.fairness.baseline
    keys: list[str] = []
    for info in data.variants.values():
        keys += [k for k in info.settings if k not in keys]
    rows = []
    for key in keys:
        values = {n: data.variants[n].settings.get(key) for n in names}
        base = values.get(baseline)
        differs = {n for n, v in values.items() if n != baseline and v != base}
        rows.append({"key": key, "values": values, "differs": differs})
    return rows


def pgbouncer_summary(data: RunResults) -> str:
    bouncer = data.pgbouncer
    if not bouncer.enabled:
        return "off: the services connect to PostgreSQL directly"
    prepared = bouncer.max_prepared_statements
    tracking = (
        f"max_prepared_statements = {prepared}"
        if prepared is not None
        else "cannot track prepared statements (added in 1.21)"
    )
    return (
        f"PgBouncer {bouncer.version}, {bouncer.pool_mode} pooling, "
        f"default_pool_size {bouncer.default_pool_size}, max_client_conn "
        f"{bouncer.max_client_conn}; {tracking}"
    )


def statement_cache_summary(data: RunResults) -> str:
    cache = data.pgbouncer.statement_cache
    if not cache:
        return "asyncpg defaults"
    text = f"{cache.in_force} (DB_STATEMENT_CACHE={cache.requested})"
    if cache.requested == "auto":
        text += ": auto turns it off only behind a PgBouncer that cannot track prepared statements"
    return text


def view(data: RunResults) -> dict[str, Any]:
    found = verdicts.warnings(data)
    machine = data.environment.machine
    colors = charts.palette(data.run.variants)
    return {
        "data": data,
        "run": data.run,
        "labels": labels_of(data),
        "title": " vs ".join(labels_of(data)[name] for name in data.run.variants),
        "colors": colors,
        "trust": verdicts.trust(found),
        "words": verdicts.words,
        "css": verdicts.css,
        "warnings": found,
        "cross_check": crosscheck.view(data),
        "scenarios": [
            scenario_view(name, data, index, colors) for index, name in enumerate(data.scenarios)
        ],
        "machine": [(label, machine.get(key)) for key, label in ENVIRONMENT_KEYS],
        "key_versions": data.environment.versions.key,
        "all_versions": data.environment.versions.all,
        "settings_rows": settings_table(data),
        "pgbouncer_summary": pgbouncer_summary(data),
        "statement_cache_summary": statement_cache_summary(data),
        "table_metrics": TABLE_METRICS,
        "littles_law": analysis.littles_law,
        "component_words": breakdown.WORDS,
        "component_colors": breakdown.COLORS,
    }


def build(run_dir: Path) -> Path:
    """Write ``run_dir/index.html`` from ``run_dir/results.json``."""
    data = store.load(run_dir)
    context = view(data)
    all_charts = [
        c
        for s in context["scenarios"]
        for c in (*s["charts"], *s["endpoint_charts"], *s["fault_charts"])
    ]
    html = render.page("run.html.j2", charts_json=render.script_json(all_charts), **context)
    return render.write(run_dir / FILENAME, html)
