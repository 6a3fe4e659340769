"""The second load generator: wrk's figures read back from real runs against a real
service, the warning when the generators disagree, the notice without wrk, and reports
of results that have no cross-check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadtests.infra import cpu, database
from loadtests.report import run_page, verdicts
from loadtests.results import store
from loadtests.results.models import CrossCheck, CrossCheckRun, GeneratorFigures
from loadtests.run.extras import crosscheck
from loadtests.run.service import ServiceUnderTest
from loadtests.variants import BUILTIN
from tests.conftest import start_service
from tests.helpers import PROJECT_ROOT, cli_env, one_line_error, run_cli

needs_wrk = pytest.mark.skipif(
    crosscheck.find_wrk() is None, reason="wrk is not installed (apt-get install wrk)"
)
OLD_RESULTS = PROJECT_ROOT / "tests" / "data" / "results-v1.json"


@needs_wrk
@pytest.mark.slow
def test_both_generators_measure_a_real_service(seeded, tmp_path) -> None:
    """What the runner does after the rounds, for one variant, with short windows."""
    layout = cpu.plan_layout(True)
    service = ServiceUnderTest.prepare(BUILTIN["flask"], seeded.url, layout, {})
    result = crosscheck.prepared(10, warmup_s=1, window_s=4)
    lines: list[str] = []
    seed_spec = database.ensure_seeded(seeded)["spec"]
    crosscheck.run_cross_check(result, [service], seeded, layout, seed_spec, tmp_path, lines.append)

    (run,) = result.runs
    assert run.error is None, run.error
    assert result.wrk_version and result.wrk_version.startswith("wrk ")
    for figures in (run.locust, run.wrk):
        assert figures is not None
        assert figures.failures == {} and figures.successes == figures.requests > 50
        assert 3.5 < figures.seconds < 5
        assert figures.throughput_rps == pytest.approx(figures.successes / figures.seconds, 0.01)
        assert 0 < figures.p50_ms < 1000
    assert "--timeout 30s" in result.wrk_command and "--threads 1" in result.wrk_command
    assert f" -- {seed_spec['users']} " in result.wrk_command  # ids over the seeded users
    assert "Locust" in lines[-1] and "wrk" in lines[-1] and "req/s" in lines[-1]
    assert not service.alive(), "the service is stopped again"
    # wrk's own summary agrees with what done() printed.
    log = (tmp_path / "flask" / "wrk.log").read_text()
    summary = next(line for line in log.splitlines() if " requests in " in line)
    assert int(summary.split()[0]) == run.wrk.requests


@needs_wrk
def test_wrk_counts_error_responses_as_failures(seeded, tmp_path) -> None:
    """Ids beyond the seed: every answer is a 404, so nothing is a success."""
    service = start_service("flask", seeded, tmp_path)
    try:
        argv = crosscheck.wrk_argv(crosscheck.find_wrk(), service.url, 4, 1, 10**9, 1)
        output = crosscheck.run_wrk(argv, 1, tmp_path / "wrk.log", None)
    finally:
        service.stop()
    figures = crosscheck.parse(output)
    assert figures.successes == 0 and figures.throughput_rps == 0
    assert figures.failures["http_error"] == figures.requests > 10
    assert figures.latency_includes_failures and figures.p50_ms > 0


def _figures(rps: float, p50: float) -> GeneratorFigures:
    return GeneratorFigures(
        requests=int(rps * 8), successes=int(rps * 8), failures={}, seconds=8.0,
        throughput_rps=rps, p50_ms=p50, latency_includes_failures=False,
    )  # fmt: skip


def _old_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    shutil.copy(OLD_RESULTS, run_dir / "results.json")
    return run_dir


def _with_cross_check(tmp_path: Path, **runs: tuple[GeneratorFigures, GeneratorFigures]) -> Path:
    data = store.load(_old_run(tmp_path))
    data.cross_check = CrossCheck(
        endpoint="GET /users/{id}", users=50, warmup_seconds=3, window_seconds=8,
        wrk_version="wrk 4.1.0", wrk_command="wrk --threads 1 ...",
        runs=[CrossCheckRun(variant=n, locust=pair[0], wrk=pair[1]) for n, pair in runs.items()],
    )  # fmt: skip
    run_dir = tmp_path / "synthetic"
    run_dir.mkdir()
    store.write(run_dir, data)
    return run_dir


def test_generators_more_than_15_percent_apart_raise_a_warning(tmp_path) -> None:
    run_dir = _with_cross_check(
        tmp_path,
        flask=(_figures(1000, 40.0), _figures(1140, 35.0)),  # +14%, -12.5%: agree
        fastapi=(_figures(1000, 40.0), _figures(1200, 32.0)),  # +20%, -20%: disagree
    )
    data = store.load(run_dir)
    texts = [w.text for w in verdicts.warnings(data) if "load generators" in w.text]
    assert len(texts) == 1 and "FastAPI" in texts[0], texts
    assert "throughput 1,000 req/s from Locust, 1,200 req/s from wrk (+20%)" in texts[0]
    assert "p50 40.0 ms from Locust, 32.0 ms from wrk (-20%)" in texts[0]
    assert verdicts.trust(verdicts.warnings(data))["level"] != "good"

    html = run_page.build(run_dir).read_text()
    panel = html[html.index('id="cross-check"') :]
    panel = panel[: panel.index("</table>")]
    for shown in ("1,000", "1,140", "1,200", "+14%", "-12%", "40.0 ms", "35.0 ms", "32.0 ms"):
        assert shown in panel, shown
    assert panel.count('class="delta-worse"') == 2


def test_without_wrk_the_cross_check_is_skipped_with_a_notice(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no wrk here
    result = crosscheck.prepared(50)
    assert result.wrk_version is None
    assert "apt-get install wrk" in result.note and "brew install wrk" in result.note
    lines: list[str] = []
    crosscheck.run_cross_check(result, [object()], None, None, {}, tmp_path, lines.append)  # type: ignore[arg-type]
    assert lines == [f"\ncross-check skipped: {result.note}"] and result.runs == []

    data = store.load(_old_run(tmp_path))
    data.cross_check = result
    (tmp_path / "skipped").mkdir()
    store.write(tmp_path / "skipped", data)
    html = run_page.build(tmp_path / "skipped").read_text()
    panel = html[html.index('id="cross-check"') :][:1000]
    assert "skipped" in panel and "apt-get install wrk" in panel and "brew install wrk" in panel
    assert not [w for w in verdicts.warnings(data) if "generators" in w.text]


def test_run_says_how_to_install_wrk_before_it_starts(tmp_path) -> None:
    """A run without wrk prints the notice first (the missing PgBouncer then stops this one
    before anything starts)."""
    env = cli_env(tmp_path / "state", PATH=str(tmp_path), PGBOUNCER_BIN=str(tmp_path / "none"))
    result = run_cli("run", "--pgbouncer", "--out", str(tmp_path / "out"), env=env)
    one_line_error(result)
    assert "cross-check skipped: wrk is not installed" in result.stdout
    assert "apt-get install wrk" in result.stdout and "brew install wrk" in result.stdout


@pytest.mark.parametrize("value", ["0", "many", "1001"])
def test_bad_cross_check_is_a_one_line_error(value, tmp_path) -> None:
    line = one_line_error(
        run_cli("run", "--cross-check", value, "--out", str(tmp_path), env=cli_env(tmp_path))
    )
    assert f"--cross-check must be a user count from 1 to 1000 or off, got '{value}'" in line


def test_results_without_a_cross_check_still_render(tmp_path) -> None:
    # Schema 1 (converted on load) and schema 2 written before the field existed.
    old = _old_run(tmp_path)
    assert json.loads((old / "results.json").read_text())["schema_version"] == 1
    written = store.load(old).model_dump(mode="json")
    del written["cross_check"]
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "results.json").write_text(json.dumps(written))
    for run_dir in (old, tmp_path / "v2"):
        assert store.load(run_dir).cross_check is None
        html = run_page.build(run_dir).read_text()
        panel = html[html.index('id="cross-check"') :][:600]
        assert "Not run" in panel, panel
