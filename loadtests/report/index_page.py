"""``reports/index.html``: every run (and comparison) under ``reports/``, newest first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtests.errors import SuiteError
from loadtests.report import capacity_page, render, run_page, verdicts
from loadtests.report import claims_page as claims_page
from loadtests.results import analysis, capacity, store
from loadtests.results.models import RunResults

FILENAME = "index.html"


def _entry(run_dir: Path) -> dict[str, Any]:
    try:
        data = store.load(run_dir)
    except SuiteError as exc:
        return {"id": run_dir.name, "readable": False, "problem": str(exc)}
    labels = run_page.labels_of(data)
    headlines = {}
    for name in data.scenarios:
        sentences = verdicts.headlines(analysis.grid(data, name), labels)
        headlines[name] = sentences[0] if sentences else ""
    return {
        "id": run_dir.name,
        "readable": True,
        "started_at": data.run.started_at,
        "status": data.run.status,
        "scenarios": list(data.scenarios),
        "variants": [labels.get(v, v) for v in data.run.variants],
        "replicates": _replicates(data),
        "steps": sorted({u for s in data.scenarios.values() for u in s.plan.steps}),
        "pgbouncer": data.pgbouncer.enabled,
        "trust": verdicts.trust(verdicts.warnings(data))["level"],
        "headlines": headlines,
        "has_report": (run_dir / run_page.FILENAME).exists(),
    }


def _replicates(data: RunResults) -> str:
    """Blocks per step, or rounds (older results)."""
    blocks = sorted({s.plan.blocks for s in data.scenarios.values() if s.design == "blocks"})
    if blocks:
        return "/".join(map(str, blocks)) + " blocks"
    return f"{data.run.rounds} round{'s' if data.run.rounds != 1 else ''}"


def _capacity_entry(directory: Path) -> dict[str, Any]:
    try:
        found = capacity.load(directory)
    except SuiteError as exc:
        return {"id": directory.name, "readable": False, "problem": str(exc)}
    return {
        "id": directory.name,
        "readable": True,
        "started_at": found.started_at,
        "status": found.status,
        "headline": capacity_page.headline(found),
        "has_report": (directory / capacity_page.FILENAME).exists(),
    }


def build(reports_dir: Path) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    runs, comparisons, searches = [], [], []
    for child in sorted(reports_dir.iterdir(), reverse=True):
        if not child.is_dir():
            continue
        if (child / store.FILENAME).exists():
            runs.append(_entry(child))
        elif (child / capacity.FILENAME).exists():
            searches.append(_capacity_entry(child))
        elif (child / "index.html").exists() and child.name.startswith("compare-"):
            comparisons.append(child.name)
    claims = claims_page.index_entries(reports_dir)
    html = render.page(
        "index.html.j2", runs=runs, comparisons=comparisons, claims=claims, searches=searches
    )
    return render.write(reports_dir / FILENAME, html)
