"""``claims.html``: one self-contained page from ``claims.json``, in the run report's
style (its CSS, its chart script and uPlot, inlined by ``loadtests/report/render.py``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from pydantic import ValidationError

from loadtests.errors import SuiteError
from loadtests.report import render
from loadtests.report.charts import EXTRA_COLORS, VARIANT_COLORS
from loadtests.report.claims_table import choices, edge
from loadtests.report.fmt import show
from loadtests.results.claims import (
    FILENAME,
    OUTCOME_TEXT,
    CheckResult,
    ClaimResult,
    ClaimsDocument,
    Interaction,
    SeriesSummary,
)

PAGE = "claims.html"
PREFIX = "claims-"
COLORS = (*VARIANT_COLORS.values(), *EXTRA_COLORS)
# Drawn by the page's own small script: the run report's draws against concurrency.
SCRIPT = Path(__file__).with_name("templates") / "claims.js"
# Inconclusive, older verdicts and runs that did not judge get the muted badge.
BADGES = {
    "reproduced": "good",
    "different size": "care",
    "contradicted": "suspect",
    "depends": "care",
}
RULE_CLASSES = {"reproduced": "verdict-better", "contradicted": "verdict-worse"}
INDEX_LIMIT = 5


def load(directory: Path) -> ClaimsDocument:
    path = directory / FILENAME
    try:
        return ClaimsDocument.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise SuiteError(f"no {FILENAME} in {directory}") from None
    except (OSError, ValueError, ValidationError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise SuiteError(f"{path} is not a readable claims file: {reason}") from None


def _charts(index: int, result: ClaimResult) -> list[dict[str, Any]]:
    """A chart per unit that several series share, each round a point: the spread and
    any drift across the fresh processes are visible at a glance."""
    by_unit: dict[str, list[SeriesSummary]] = {}
    for summary in result.series:
        by_unit.setdefault(summary.unit, []).append(summary)
    specs = []
    for number, (unit, group) in enumerate(by_unit.items()):
        rounds = max(len(s.values) for s in group)
        if len(group) < 2 or rounds < 2 or unit in ("count", "flag"):
            continue
        series = [
            {
                "label": s.label,
                "color": COLORS[i % len(COLORS)],
                "dash": [],
                "values": s.values + [None] * (rounds - len(s.values)),
            }
            for i, s in enumerate(group)
        ]
        specs.append(
            {
                "id": f"claim{index}-{number}",
                "title": f"{result.id}: {unit} in each round",
                "small": True,
                "unit": unit,
                "rounds": rounds,
                "series": series,
            }
        )
    return specs


def _code_spans(text: str) -> Markup:
    """The docstring's ``code`` as <code>, everything else escaped."""
    parts = escape(text).split("``")
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if index % 2 else part
        for index, part in enumerate(parts)
    )


def _series_rows(result: ClaimResult) -> list[dict[str, Any]]:
    return [
        {
            "label": s.label,
            "median": show(s.median, s.unit),
            "spread": f"{show(s.low, s.unit)} to {show(s.high, s.unit)}"
            if len(s.values) > 1
            else "one round",
            "cv": f"{s.cv:.1%}" if s.cv is not None else "-",
            "unstable": s.unstable,
            "rounds": ", ".join(show(v, s.unit) for v in s.values),
        }
        for s in result.series
    ]


def _figure(check: CheckResult | Interaction) -> str:
    figure = check.figure
    if figure is None or figure.low is None or figure.high is None:
        return "-"
    return f"{edge(figure.low, figure.unit)} to {edge(figure.high, figure.unit)}"


def _rule_rows(result: ClaimResult) -> list[dict[str, Any]]:
    return [
        {
            "check": c,
            "setting": f"{c.setting[0]}: {c.setting[1]}" if c.setting else "-",
            "outcome": OUTCOME_TEXT[c.outcome] + ("" if c.decides else " (not counted)"),
            "class": RULE_CLASSES.get(c.outcome, "verdict-tie") if c.decides else "verdict-tie",
            "rounds": ", ".join(show(v, c.figure.unit) for v in c.figure.per_round)
            if c.figure
            else "",
        }
        for c in result.checks
    ]


def _interaction_rows(result: ClaimResult) -> list[dict[str, Any]]:
    return [
        {
            "what": f"{i.what}: {i.between[0]} {'/' if i.figure.log else '-'} {i.between[1]}",
            "estimate": show(i.figure.estimate, i.figure.unit),
            "interval": _figure(i),
            "significant": i.significant,
        }
        for i in result.verdict.interactions
    ]


def _measured(result: ClaimResult) -> list[str]:
    """The deciding rules' figures, for the overview."""
    return [
        f"{c.what}{f' [{c.setting[1]}]' if c.setting else ''}: {c.measured}"
        for c in result.checks
        if c.decides
    ]


def view(document: ClaimsDocument) -> dict[str, Any]:
    claims, charts = [], []
    for index, result in enumerate(document.claims):
        specs = _charts(index, result)
        charts += specs
        claims.append(
            {
                "result": result,
                "badge": BADGES.get(result.verdict.outcome),
                "series": _series_rows(result),
                "rules": _rule_rows(result),
                "interactions": _interaction_rows(result),
                "measured": _measured(result),
                "charts": specs,
                "sizes": ", ".join(f"{k} {v:,}" for k, v in result.sizes.items()),
                "method": _code_spans(result.method),
            }
        )
    counts = Counter(r.verdict.text for r in document.claims)
    return {
        "doc": document,
        "claims": claims,
        "counts": dict(counts),
        "choices": choices(document.run),
        "claims_charts": render.script_json(charts),
        "claims_js": SCRIPT.read_text(),
    }


def build(directory: Path) -> Path:
    html = render.page("claims.html.j2", **view(load(directory)))
    return render.write(directory / PAGE, html)


def index_entries(reports_dir: Path, limit: int = INDEX_LIMIT) -> list[dict[str, Any]]:
    """The newest claims pages under ``reports_dir``, for ``reports/index.html``."""
    found = []
    for child in sorted(reports_dir.glob(f"{PREFIX}*"), reverse=True):
        if not (child / PAGE).exists():
            continue
        try:
            document = load(child)
        except SuiteError:
            continue
        counts = Counter(r.verdict.text for r in document.claims)
        found.append(
            {
                "id": child.name,
                "started_at": document.run.started_at,
                "mode": document.run.mode,
                "status": document.run.status,
                "claims": len(document.claims),
                "counts": "; ".join(f"{n} {text}" for text, n in counts.items()),
            }
        )
        if len(found) == limit:
            break
    return found
