"""Rendering with Jinja2 into one self-contained HTML file (assets inlined)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from loadtests import files
from loadtests.report import fmt
from loadtests.results.comparisons import FAILING_RATE
from loadtests.results.models import LAG_WARN_MS

HERE = Path(__file__).parent
ASSETS = {
    "uplot_js": HERE / "vendor" / "uPlot.iife.min.js",
    "uplot_css": HERE / "vendor" / "uPlot.min.css",
    "report_css": HERE / "templates" / "report.css",
    "report_js": HERE / "templates" / "report.js",
}


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ms=fmt.ms, number=fmt.number, percent=fmt.percent, when=fmt.when, duration=fmt.duration
    )
    env.globals.update(FAILING_RATE=FAILING_RATE, LAG_WARN_MS=LAG_WARN_MS)
    return env


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def page(template: str, **context: Any) -> str:
    assets = {name: path.read_text() for name, path in ASSETS.items()}
    return environment().get_template(template).render(assets=assets, **context)


def write(path: Path, html: str) -> Path:
    return files.write_atomically(path, html)
