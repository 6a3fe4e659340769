"""``reports/<run>/index.html``: one run's report, from its results.json alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests import results
from loadtests.report import charts, claims, render, verdicts

FILENAME = "index.html"
TABLE_METRICS = ("p50", "p90", "p95", "p99", "p99_9", "max")
ENVIRONMENT_KEYS = (
    ("cpu_model", "CPU"), ("logical_cpus", "logical CPUs"), ("physical_cpus", "physical cores"),
    ("memory_gib", "memory (GiB)"), ("os", "OS"), ("python", "Python"),
    ("load_average_at_start", "load average at start"),
)  # fmt: skip


def labels_of(data: dict[str, Any]) -> dict[str, str]:
    return {name: service["label"] for name, service in data["services"].items()}


def scenario_view(
    name: str, scenario: dict[str, Any], data: dict[str, Any], index: int
) -> dict[str, Any]:
    labels = labels_of(data)
    per_service = verdicts.steps_per_service(data, name)
    services = list(per_service)
    outcomes = {s: scenario["results"][s] for s in services}
    users = sorted({u for steps in per_service.values() for u in steps})
    chart_id = f"s{index}"
    figures = charts.versus_users(chart_id, per_service, labels, users)
    figures.append(charts.over_time(chart_id, outcomes, labels))
    endpoint_charts = charts.per_endpoint(chart_id, per_service, labels, users)
    rows = []
    for u in users:
        for service in services:
            step = per_service[service].get(u)
            if step is not None:
                rows.append(
                    {"users": u, "service": service, "label": labels[service], "step": step}
                )
    return {
        "name": name,
        "anchor": f"scenario-{name}",
        "description": scenario["description"],
        "services": services,
        "outcomes": outcomes,
        "headlines": verdicts.headlines(per_service, labels),
        "winners": verdicts.step_winners(per_service, labels) if len(services) == 2 else [],
        "charts": figures,
        "endpoint_charts": endpoint_charts,
        "rows": rows,
        "claim": claims.check(claims.ARTICLE_CLAIM, name, outcomes, data["services"])
        if len(services) == 2
        else None,
    }


def settings_table(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every setting of every service side by side; shared ones that differ are flagged."""
    services = list(data["services"])
    keys: list[str] = []
    for service in services:
        keys += [k for k in data["services"][service]["settings"] if k not in keys]
    shared = set(data["fairness"].get("shared_settings", []))
    rows = []
    for key in keys:
        values = {s: data["services"][s]["settings"].get(key) for s in services}
        differs = key in shared and len({str(v) for v in values.values()}) > 1
        rows.append({"key": key, "values": values, "differs": differs, "shared": key in shared})
    return rows


def pgbouncer_summary(data: dict[str, Any]) -> str:
    bouncer = data.get("pgbouncer") or {}
    if not bouncer.get("enabled"):
        return "off: the services connect to PostgreSQL directly"
    prepared = bouncer.get("max_prepared_statements")
    tracking = (
        f"max_prepared_statements = {prepared}"
        if prepared is not None
        else "cannot track prepared statements (added in 1.21)"
    )
    return (
        f"PgBouncer {bouncer['version']}, {bouncer['pool_mode']} pooling, "
        f"default_pool_size {bouncer['default_pool_size']}, max_client_conn "
        f"{bouncer['max_client_conn']}; {tracking}"
    )


def statement_cache_summary(data: dict[str, Any]) -> str:
    cache = (data.get("pgbouncer") or {}).get("statement_cache")
    if not cache:
        return "asyncpg defaults"
    text = f"{cache['in_force']} (DB_STATEMENT_CACHE={cache['requested']})"
    if cache["requested"] == "auto":
        text += ": auto turns it off only behind a PgBouncer that cannot track prepared statements"
    return text


def view(data: dict[str, Any], run_dir: Path | None = None) -> dict[str, Any]:
    found = verdicts.warnings(data)
    machine = data["environment"]["machine"]
    return {
        "data": data,
        "run": data["run"],
        "labels": labels_of(data),
        "trust": verdicts.trust(found),
        "warnings": found,
        "scenarios": [
            scenario_view(name, scenario, data, index)
            for index, (name, scenario) in enumerate(data["scenarios"].items())
        ],
        "machine": [(label, machine.get(key)) for key, label in ENVIRONMENT_KEYS],
        "key_versions": data["environment"]["versions"]["key"],
        "all_versions": data["environment"]["versions"]["all"],
        "settings_rows": settings_table(data),
        "colors": {name: charts.color(name, i) for i, name in enumerate(data["services"])},
        "pgbouncer_summary": pgbouncer_summary(data),
        "statement_cache_summary": statement_cache_summary(data),
    }


def build(run_dir: Path) -> Path:
    """Write ``run_dir/index.html`` from ``run_dir/results.json``."""
    data = results.load(run_dir)
    context = view(data, run_dir)
    all_charts = [c for s in context["scenarios"] for c in (*s["charts"], *s["endpoint_charts"])]
    html = render.page("run.html.j2", charts_json=render.script_json(all_charts), **context)
    return render.write(run_dir / FILENAME, html)
