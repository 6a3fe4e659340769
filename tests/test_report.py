"""The HTML reports, built from real smoke runs: content, numbers, a real browser, compare."""

from __future__ import annotations

import copy
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from loadtests import results
from loadtests.report import compare_page, index_page, run_page
from tests.helpers import cli_env, one_line_error, run_cli

ARTIFACTS = Path(__file__).resolve().parent.parent / ".pytest_artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Cells(HTMLParser):
    """Collects the step tables' cells: (scenario, service, users, field) -> data-value."""

    def __init__(self) -> None:
        super().__init__()
        self.scenario = self.service = self.users = None
        self.cells: dict[tuple[str, str, int, str], str] = {}
        self.chart_ids: list[str] = []
        self.section_ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "steps" in (a.get("class") or ""):
            self.scenario = a.get("data-scenario")
        if tag == "tr" and "data-users" in a:
            self.service, self.users = a["data-service"], int(a["data-users"])
        if tag == "td" and "data-field" in a and self.scenario:
            self.cells[(self.scenario, self.service, self.users, a["data-field"])] = a["data-value"]
        if tag == "div" and "chart" in (a.get("class") or "").split():
            self.chart_ids.append(a["id"])
        if tag == "section" and a.get("id"):
            self.section_ids.append(a["id"])


@pytest.fixture(scope="module")
def two_runs(seeded, state_dir, tmp_path_factory) -> tuple[Path, Path]:
    """Two real smoke runs (select-update at 5, 10 and 200 users, and mixed at 5 and 10)."""
    out = tmp_path_factory.mktemp("reports")
    env = cli_env(state_dir)
    first = run_cli("run", "--steps", "5,200", "--step-seconds", "3", "--warmup-seconds", "1",
                    "--scenario", "select-update,mixed", "--out", str(out), env=env, timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_cli("run", "--steps", "5,10", "--step-seconds", "3", "--warmup-seconds", "1",
                     "--scenario", "select-update", "--out", str(out), env=env, timeout=300)  # fmt: skip
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
    data = results.load(run_dir)
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
    assert "The article's claim beside this run" in html and "the article's claim" in html
    for text in ("Can I trust it?", "Both services' settings", "CPU placement", "Every installed package",
                 "synchronous_commit", data["environment"]["machine"]["cpu_model"]):  # fmt: skip
        assert text in html, text
    for outcome in data["scenarios"]["select-update"]["results"].values():
        assert f'href="{outcome["locust"]["html"]}"' in html
    assert "http://" not in html.split("<script>")[0].replace("http://127.0.0.1", ""), "no network"


def test_table_numbers_equal_results_json(two_runs) -> None:
    run_dir = two_runs[0]
    data = results.load(run_dir)
    parsed = Cells()
    parsed.feed(run_page.build(run_dir).read_text())
    checked = 0
    for scenario, body in data["scenarios"].items():
        for service, outcome in body["results"].items():
            for step in outcome["steps"]:
                key = (scenario, service, step["users"])
                expected = {
                    "requests": step["requests"],
                    "throughput_rps": step["throughput_rps"],
                    "errors": step["errors"],
                    "error_rate": step["error_rate"],
                    **step["latency_ms"],
                    "generator_percent": step["cpu"]["generator_percent"],
                    "service_percent": step["cpu"]["service_percent"],
                }
                for field, value in expected.items():
                    if field in ("min", "mean"):
                        continue
                    assert float(parsed.cells[(*key, field)]) == pytest.approx(value), (key, field)
                    checked += 1
    assert checked >= 2 * 2 * 2 * 10


def test_headline_is_derived_from_the_numbers(two_runs) -> None:
    data = results.load(two_runs[0])
    view = run_page.view(data)
    select_update = next(s for s in view["scenarios"] if s["name"] == "select-update")
    steps = {n: {s["users"]: s for s in o["steps"]} for n, o in select_update["outcomes"].items()}
    p99 = {n: s[200]["latency_ms"]["p99"] for n, s in steps.items()}
    headline = select_update["headlines"][0]
    assert headline.startswith("At 200 users")
    lower = min(p99, key=p99.get)
    if max(p99.values()) / min(p99.values()) >= 1.05:
        label = data["services"][lower]["label"]
        assert f"{label}'s p99 is" in headline and "lower" in headline
    claim = select_update["claim"]
    assert claim is not None and claim["rows"][2]["measured_lower"] == lower


def test_claim_is_shown_only_for_select_update_at_200_users(two_runs) -> None:
    assert "The article's claim beside this run" not in run_page.build(two_runs[1]).read_text()


def test_warnings_flag_saturation_and_setting_differences(two_runs) -> None:
    data = copy.deepcopy(results.load(two_runs[1]))
    step = data["scenarios"]["select-update"]["results"]["flask"]["steps"][0]
    step["cpu"]["generator_saturated"] = True
    data["fairness"]["differences"] = [{"setting": "pool_size", "flask": 20, "fastapi": 10}]
    data["services"]["fastapi"]["settings"]["pool_size"] = 10
    view = run_page.view(data)
    texts = [w.text for w in view["warnings"]]
    assert any("load generator was CPU-saturated" in t for t in texts)
    assert any("different pool_size" in t for t in texts)
    assert view["trust"]["level"] == "suspect"
    assert any(row["differs"] for row in view["settings_rows"] if row["key"] == "pool_size")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by .ci/run")
def test_report_renders_in_a_real_browser_without_network(two_runs) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    page_path = run_page.build(two_runs[0])
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            charts = page.eval_on_selector_all(
                ".chart",
                """els => els.map(el => {
                    const canvas = el.querySelector('canvas');
                    let inked = 0;
                    if (canvas) {
                      const ctx = canvas.getContext('2d');
                      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
                      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
                    }
                    return {id: el.id, drawn: el.dataset.drawn, points: +el.dataset.points, inked};
                })""",
            )
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            page.screenshot(path=str(ARTIFACTS / "report-top.png"))
            page.hover("#s0-latency .u-over", position={"x": 200, "y": 100})
            legend = page.inner_text("#s0-latency")
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file://", "data:", "about:")) for url in requests), requests
    assert len(charts) >= 9
    for chart in charts:
        assert chart["drawn"] == "true" and chart["points"] > 0 and chart["inked"] > 1000, chart
    assert "p99" in legend
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_compare_two_real_runs(two_runs, tmp_path) -> None:
    out = tmp_path / "compare"
    page = compare_page.build(two_runs[0], two_runs[1], out)
    html = page.read_text()
    a, b = (results.load(r) for r in two_runs)
    assert a["run"]["id"] in html and b["run"]["id"] in html
    context = compare_page.view(a, b)
    (scenario,) = context["scenarios"]
    assert scenario["name"] == "select-update"
    assert {(r["service"], r["users"]) for r in scenario["rows"]} == {("flask", 5), ("fastapi", 5)}
    row = next(r for r in scenario["rows"] if r["service"] == "flask")
    a_step = a["scenarios"]["select-update"]["results"]["flask"]["steps"][0]
    b_step = b["scenarios"]["select-update"]["results"]["flask"]["steps"][0]
    cell = next(c for c in row["cells"] if c["figure"] == "throughput_rps")
    assert (cell["a"], cell["b"]) == (a_step["throughput_rps"], b_step["throughput_rps"])
    assert cell["delta"]["text"] == f"{(cell['b'] - cell['a']) / cell['a']:+.0%}"


def test_compare_and_report_errors_are_one_line(two_runs, tmp_path) -> None:
    env = cli_env(tmp_path)
    missing = one_line_error(run_cli("report", str(tmp_path / "nope"), env=env))
    assert "no run directory" in missing
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    assert "not valid JSON" in one_line_error(run_cli("report", str(broken), env=env))
    (broken / "results.json").write_text(json.dumps({"schema_version": 1, "run": {}}))
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
    for outcome in data["scenarios"]["select-update"]["results"].values():
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
