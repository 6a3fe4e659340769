"""The HTML reports, built from real smoke runs: content, numbers, a real browser, compare."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from loadtests.report import compare_page, index_page, run_page
from loadtests.results import analysis, store
from tests.browser import ARTIFACTS, CHROMIUM, NO_CHROMIUM, open_page
from tests.helpers import cli_env, old_run, one_line_error, run_cli


class Cells(HTMLParser):
    """Collects the step tables' cells: (scenario, variant, users, field) -> data-value."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario = self.variant = self.users = None
        self.cells: dict[tuple[str, str, int, str], str] = {}
        self.chart_ids: list[str] = []
        self.section_ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "steps" in (a.get("class") or ""):
            self.scenario = a.get("data-scenario")
        if tag == "tr" and "data-round" in a:
            self.variant, self.users = a["data-variant"], int(a["data-users"])
        if tag == "td" and "data-field" in a and self.scenario:
            self.cells[(self.scenario, self.variant, self.users, a["data-field"])] = a["data-value"]
        if tag == "div" and "chart" in (a.get("class") or "").split():
            self.chart_ids.append(a["id"])
        if tag == "section" and a.get("id"):
            self.section_ids.append(a["id"])


@pytest.fixture(scope="module")
def two_runs(seeded, state_dir, tmp_path_factory) -> tuple[Path, Path]:
    """Two real smoke runs: three variants on select-update and mixed at 5 and 200 users,
    and two variants on select-update at 5 users."""
    out = tmp_path_factory.mktemp("reports")
    env = cli_env(state_dir)
    first = run_cli("run", "--steps", "5,200", "--step-seconds", "4", "--warmup-seconds", "1", "--blocks", "2",
                    "--switch-seconds", "1",
                    "--scenario", "select-update,mixed", "--services", "flask,fastapi,fastapi:raw",
                    "--cross-check", "off", "--out", str(out), env=env, timeout=400)  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_cli("run", "--steps", "5", "--step-seconds", "4", "--warmup-seconds", "1", "--blocks", "1",
                     "--scenario", "select-update", "--services", "flask,fastapi", "--out", str(out),
                     "--cross-check", "off", "--no-ceiling", env=env, timeout=300)  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(runs) == 2
    return runs[0], runs[1]


def test_run_writes_its_report_and_the_index(two_runs) -> None:
    for run_dir in two_runs:
        assert (run_dir / "index.html").stat().st_size > 50_000
    index = (two_runs[0].parent / "index.html").read_text()
    assert all(run.name in index for run in two_runs)


def test_report_has_every_section_and_a_chart_per_figure(two_runs) -> None:
    run_dir = two_runs[0]
    data = store.load(run_dir)
    html = run_page.build(run_dir).read_text()
    parsed = Cells()
    parsed.feed(html)
    assert {"verdict", "scenario-select-update", "scenario-mixed", "trust"} <= set(
        parsed.section_ids
    )
    for scenario in ("s0", "s1"):
        for figure in ("latency", "throughput", "errors", "time"):
            assert f"{scenario}-{figure}" in parsed.chart_ids
    assert any(c.startswith("s1-endpoint-") for c in parsed.chart_ids), "mixed: per-endpoint charts"
    assert not any(c.startswith("s0-endpoint-") for c in parsed.chart_ids), "one endpoint: none"
    specs = json.loads(
        html.split('<script id="chart-data" type="application/json">')[1].split("</script>")[0]
    )
    assert sorted(s["id"] for s in specs) == sorted(parsed.chart_ids)
    throughput = next(s for s in specs if s["id"] == "s0-throughput")
    colours = [series["color"] for series in throughput["series"]]
    assert len(colours) == 3 and len(set(colours)) == 3, "one line and colour per variant"
    latency = next(s for s in specs if s["id"] == "s0-latency")
    for series in latency["series"]:  # the same colour for a variant in every chart
        variant = next(
            v
            for v, info in data.variants.items()
            if series["label"].rsplit(" ", 1)[0] == info.label
        )
        assert series["color"] == colours[data.scenarios["select-update"].variants.index(variant)]
    for text in ("Where the time goes", "the slowest 1% of requests", "PostgreSQL alone ran",
                 "slowest 1% of requests was spent", "Why: at 200 users", "Can I trust it?",
                 "The variants", "Settings that differ from the baseline", "CPU placement", "Every installed package", "synchronous_commit",
                 "FastAPI (raw asyncpg)", "<code>DATA_ACCESS</code> = raw",
                 data.environment.machine["cpu_model"]):  # fmt: skip
        assert text in html, text
    for name, scenario in data.scenarios.items():
        assert f'href="{scenario.locust.html}"' in html, name
        assert f'data-scenario="{name}"' in html and "Every block" in html
    assert "would be detected 80% of the time" in html, "the power is stated"
    assert "http://" not in html.split("<script>")[0].replace("http://127.0.0.1", ""), "no network"


def test_every_variant_is_compared_with_the_baseline(two_runs) -> None:
    data = store.load(two_runs[0])
    view = run_page.view(data)
    scenario = next(s for s in view["scenarios"] if s["name"] == "select-update")
    assert scenario["baseline"] == "flask"
    assert {(r["variant"], r["users"]) for r in scenario["versus"]} == {
        ("fastapi", 5), ("fastapi", 200), ("fastapi:raw", 5), ("fastapi:raw", 200),
    }  # fmt: skip
    cells = analysis.grid(data, "select-update")
    for row in scenario["versus"]:
        p99 = row["versus"]["p99"]
        expected = cells[row["variant"]][row["users"]].value("p99") / cells["flask"][
            row["users"]
        ].value("p99")
        if p99.comparable:
            assert p99.ratio == pytest.approx(expected)
        assert p99.primary, "p99 is a primary comparison at every step"
        assert row["versus"]["throughput"].primary == (row["users"] == 200), "only at the top"
        assert not row["versus"]["p50"].primary and not row["versus"]["error_rate"].primary
    headline = scenario["headlines"][0]
    assert headline.startswith("At 200 users, p99 against Flask's")
    assert "FastAPI" in headline and "FastAPI (raw asyncpg)" in headline


def test_table_numbers_equal_results_json(two_runs) -> None:
    run_dir = two_runs[0]
    data = store.load(run_dir)
    parsed = Cells()
    parsed.feed(run_page.build(run_dir).read_text())
    checked = 0
    for scenario, body in data.scenarios.items():
        for outcome in body.runs:
            for step in outcome.steps:
                key = (scenario, outcome.variant, step.users)
                expected = {
                    "successes": step.successes,
                    "throughput_rps": step.throughput_rps,
                    "failures": step.failures.count,
                    "error_rate": step.failures.rate,
                    **step.latency_ms.model_dump(),
                    "generator_percent": step.cpu.generator_percent,
                    "service_percent": step.cpu.service_percent,
                }
                for field, value in expected.items():
                    if field in ("min", "mean"):
                        continue
                    assert float(parsed.cells[(*key, field)]) == pytest.approx(value), (key, field)
                    checked += 1
    assert checked >= 2 * 3 * 2 * 10


def test_claim_is_shown_only_for_select_update_at_200_users(two_runs) -> None:
    html = run_page.build(two_runs[0]).read_text()
    assert "The article's claim beside this run" in html and "the article's claim" in html
    assert "The article's claim beside this run" not in run_page.build(two_runs[1]).read_text()


def test_warnings_flag_saturation_and_a_bigger_connection_budget(two_runs) -> None:
    data = store.load(two_runs[1]).model_copy(deep=True)
    data.scenarios["select-update"].runs[0].steps[0].cpu.generator_saturated = True
    data.variants["fastapi"].connection_budget = 40
    view = run_page.view(data)
    texts = [w.text for w in view["warnings"]]
    assert any("load generator was CPU-saturated" in t for t in texts)
    assert any("could hold 40 database connections, more than the baseline" in t for t in texts)
    assert view["trust"]["level"] == "suspect"


def test_results_from_schema_1_still_render(tmp_path) -> None:
    """A results.json written before variants existed: two services, one round, and
    percentiles that mixed failures in."""
    run_dir = old_run(tmp_path, "20261123-035441-default")
    data = store.load(run_dir)
    assert data.run.variants == ["flask", "fastapi"] and data.run.rounds == 1
    step = data.scenarios["mixed"].runs[0].steps[0]
    assert step.latency_includes_failures and step.failures.latency_ms is None
    html = run_page.build(run_dir).read_text()
    assert "percentiles include failures (older results)" in html and "not measured" in html
    assert "Not measured: this run's services did not time their requests" in html
    assert "The database's ceiling was not measured (older results)" in html
    assert "At 10 users, p99 against Flask&#39;s" in html
    index_page.build(tmp_path)


def test_generated_schema_is_current() -> None:
    from loadtests.results import schema

    assert store.SCHEMA_PATH.read_text() == schema.generated(), (
        "run `python -m loadtests.results.schema`"
    )


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_report_renders_in_a_real_browser_without_network(two_runs) -> None:
    def hover(page: Any) -> str:
        page.screenshot(path=str(ARTIFACTS / "report-top.png"))
        page.hover("#s0-latency .u-over", position={"x": 200, "y": 100})
        return page.inner_text("#s0-latency")

    opened = open_page(run_page.build(two_runs[0]), "report.png", hover)
    assert opened.errors == []
    assert opened.offline(), opened.requests
    assert len(opened.charts) >= 9 and opened.drawn(), opened.charts
    assert "p99" in opened.extra
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_compare_two_real_runs(two_runs, tmp_path) -> None:
    out = tmp_path / "compare"
    page = compare_page.build(two_runs[0], two_runs[1], out)
    html = page.read_text()
    a, b = (store.load(r) for r in two_runs)
    assert a.run.id in html and b.run.id in html
    context = compare_page.view(a, b)
    (scenario,) = context["scenarios"]
    assert scenario["name"] == "select-update"
    assert {(r["variant"], r["users"]) for r in scenario["rows"]} == {("flask", 5), ("fastapi", 5)}
    row = next(r for r in scenario["rows"] if r["variant"] == "flask")
    a_step = a.scenarios["select-update"].runs_of("flask")[0].steps[0]
    b_step = b.scenarios["select-update"].runs_of("flask")[0].steps[0]
    cell = next(c for c in row["cells"] if c["metric"].key == "throughput")
    assert (cell["a"], cell["b"]) == (a_step.throughput_rps, b_step.throughput_rps)
    assert cell["delta"]["text"] == f"{(cell['b'] - cell['a']) / cell['a']:+.0%}"


def test_compare_and_report_errors_are_one_line(two_runs, tmp_path) -> None:
    env = cli_env(tmp_path)
    missing = one_line_error(run_cli("report", str(tmp_path / "nope"), env=env))
    assert "no run directory" in missing
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    assert "not valid JSON" in one_line_error(run_cli("report", str(broken), env=env))
    (broken / "results.json").write_text(json.dumps({"schema_version": 2, "run": {}}))
    assert "does not match the results schema" in one_line_error(
        run_cli("report", str(broken), env=env)
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no results.json" in one_line_error(
        run_cli("compare", str(empty), str(two_runs[0]), env=env)
    )
    disjoint = tmp_path / "disjoint"
    shutil.copytree(two_runs[1], disjoint)
    data = json.loads((disjoint / "results.json").read_text())
    for outcome in data["scenarios"]["select-update"]["runs"]:
        for step in outcome["steps"]:
            step["users"] += 1000
    (disjoint / "results.json").write_text(json.dumps(data))
    line = one_line_error(run_cli("compare", str(two_runs[1]), str(disjoint), "--out",
                                  str(tmp_path / "c"), env=env))  # fmt: skip
    assert "have no step in common" in line
    afile = tmp_path / "afile.json"
    afile.write_text("{}")
    line = one_line_error(
        run_cli("compare", str(two_runs[0]), str(two_runs[1]), "--out", str(afile), env=env)
    )
    assert "is not a directory" in line


def test_index_lists_unreadable_runs_without_failing(two_runs, tmp_path) -> None:
    reports = tmp_path / "reports"
    shutil.copytree(two_runs[0], reports / two_runs[0].name)
    (reports / "20990101-000000-bad").mkdir()
    (reports / "20990101-000000-bad" / "results.json").write_text("[]")
    html = index_page.build(reports).read_text()
    assert two_runs[0].name in html and "unreadable" in html
