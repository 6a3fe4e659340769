"""The second load generator: wrk's turns in the run's own blocks at the highest step,
for every variant, in real runs (kept-alive connections, and Connection: close reaching
both generators); a disagreement between the generators reaching the at-a-glance
section; the notice without wrk; bad input; older results."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from loadtests.recording.wire import WindowMeta
from loadtests.report import crosscheck as cross_report
from loadtests.report import run_page, verdicts
from loadtests.results import store
from loadtests.results.models import (
    CrossCheck,
    CrossCheckRun,
    CrossWindow,
    GeneratorFigures,
    RunResults,
)
from loadtests.run.extras import crosscheck
from tests.conftest import start_service
from tests.helpers import cli_env, old_run, one_line_error, run_cli, run_to_dir

needs_wrk = pytest.mark.skipif(
    crosscheck.find_wrk() is None, reason="wrk is not installed (apt-get install wrk)"
)
SCENARIO = "select-update"
SHORT = ("--steps", "5,20", "--step-seconds", "4", "--warmup-seconds", "1", "--blocks", "2",
         "--switch-seconds", "1", "--no-ceiling", "--scenario", SCENARIO)  # fmt: skip


def _run(state_dir: Path, out: Path, *args: str) -> Path:
    return run_to_dir(state_dir, out, *SHORT, *args)


@pytest.fixture(scope="module")
def kept_alive(seeded, state_dir, tmp_path_factory) -> Path:
    """A real run of two variants with wrk turns in both blocks of the highest step."""
    out = tmp_path_factory.mktemp("kept-alive")
    return _run(
        state_dir, out, "--services", "flask,fastapi", "--steps", "20", "--cross-check", "2"
    )


@needs_wrk
@pytest.mark.slow
def test_a_run_cross_checks_every_variant_at_the_highest_step(kept_alive) -> None:
    data = store.load(kept_alive)
    assert data.cross_check is None, "the older design's field stays empty"
    cross = data.scenarios[SCENARIO].cross_check
    assert cross is not None and cross.note is None, cross and cross.note
    assert (cross.design, cross.users, cross.blocks, cross.connections) == (
        "blocks", 20, 2, "keep-alive"
    )  # fmt: skip
    assert cross.wrk_version and cross.wrk_version.startswith("wrk ")
    assert "--threads 20 --connections 20" in (cross.wrk_command or "")
    for variant in ("flask", "fastapi"):
        for generator in ("locust", "wrk"):
            mine = [w for w in cross.windows if (w.variant, w.generator) == (variant, generator)]
            assert sorted(w.block for w in mine) == [1, 2], (variant, generator)
            for w in mine:
                assert w.error_rate == 0 and w.successes > 100, w
                assert w.throughput_rps == pytest.approx(w.successes / w.seconds, rel=0.01)
                assert 0 < w.p50 <= w.p99 < 5000, w  # type: ignore[operator]
                assert w.generator_cpu_percent is not None and w.generator_cpu_percent > 1
                assert w.app_ms is not None and w.queue_ms is not None
                # Kept alive: a handful of connections per turn, hundreds of requests.
                # The counter is the machine's (every process's passive opens), so a
                # neighbouring test's connections count too: half the request rate still
                # tells keep-alive from a connection per request (0.7-1.6x, below).
                assert w.opens_per_s is not None and w.opens_per_s < w.throughput_rps / 2, w
        locust = [w for w in cross.windows if (w.variant, w.generator) == (variant, "locust")]
        step = data.scenarios[SCENARIO].runs_of(variant)[0].steps[-1]
        assert [w.throughput_rps for w in locust] == [b.throughput_rps for b in step.blocks]

    html = run_page.build(kept_alive).read_text()
    glance = html[html.index('class="glance"') : html.index('id="scenario-')]
    assert "load generator" in glance, "the at-a-glance section says what wrk found"
    panel = html[html.index('id="cross-check"') :]
    panel = panel[: panel.index("<h3", 10)]
    assert panel.count('<tr data-variant="') == 2 and "Connection: close" not in panel
    assert "kept alive; Locust opens one per user, wrk one per thread" in panel
    assert 'data-metric="throughput"' in panel and 'data-metric="p99"' in panel
    notes = " ".join(data.fairness.notes)
    assert data.run.connections == "keep-alive" and "each Locust user holds one" in notes


@needs_wrk
@pytest.mark.slow
def test_connection_close_reaches_both_generators(seeded, state_dir, tmp_path) -> None:
    """Seen from the server's side: with --connections close, every request is a new TCP
    connection, whichever generator sent it."""
    run_dir = _run(state_dir, tmp_path, "--services", "flask", "--steps", "20",
                   "--blocks", "1", "--cross-check", "1", "--connections", "close")  # fmt: skip
    data = store.load(run_dir)
    cross = data.scenarios[SCENARIO].cross_check
    assert cross is not None and cross.connections == "close" and data.run.connections == "close"
    assert {w.generator for w in cross.windows} == {"locust", "wrk"}
    for w in cross.windows:
        assert w.error_rate == 0 and w.successes > 50, w
        assert w.opens_per_s is not None
        assert 0.7 < w.opens_per_s / w.throughput_rps < 1.6, w
    assert "Connection: close" in " ".join(data.fairness.notes)
    assert "close" in (cross.wrk_command or "").split()[-1]


def _disagreeing(kept_alive: Path, tmp_path: Path) -> Path:
    """The real run, with FastAPI's wrk turns made about 3x faster than Flask's in the
    same block and its Locust turns about 3x slower: opposite verdicts."""
    data = store.load(kept_alive)
    scenario = data.scenarios[SCENARIO]
    cross = scenario.cross_check
    assert cross is not None
    factors = {1: 3.0, 2: 3.1}  # not exactly equal: a spread for the interval
    flask = {(w.block, w.generator): w for w in cross.windows if w.variant == "flask"}
    for w in cross.windows:
        if w.variant == "fastapi":
            base = flask[w.block, w.generator]
            factor = factors[w.block] if w.generator == "wrk" else 1 / factors[w.block]
            w.throughput_rps, w.p99 = base.throughput_rps * factor, (base.p99 or 1) / factor
    theirs = scenario.runs_of("flask")[0].steps[-1].blocks
    for mine, base in zip(scenario.runs_of("fastapi")[0].steps[-1].blocks, theirs, strict=True):
        factor = factors[mine.block]
        mine.throughput_rps, mine.p99 = base.throughput_rps / factor, base.p99 * factor
    run_dir = tmp_path / "disagreeing"
    run_dir.mkdir()
    store.write(run_dir, data)
    return run_dir


@needs_wrk
@pytest.mark.slow
def test_a_disagreement_reaches_the_at_a_glance_section(kept_alive, tmp_path) -> None:
    run_dir = _disagreeing(kept_alive, tmp_path)
    data = store.load(run_dir)
    view = cross_report.analyse(data, SCENARIO)
    assert view is not None
    pairs = {v.metric: v for v in view.verdicts}
    assert set(pairs) == {"throughput", "p99"}
    assert all(v.opposite for v in pairs.values()), pairs
    assert pairs["throughput"].wrk.better is True and pairs["throughput"].locust.better is False

    caveats = [c for c in verdicts.warnings(data) if "disagree" in c.text]
    assert {c.severity for c in caveats} == {"high"} and len(caveats) == 2
    html = run_page.build(run_dir).read_text()
    glance = html[html.index('class="glance"') : html.index('id="scenario-')]
    first = glance[glance.index("<li>") : glance.index("</li>")]
    assert "The second load generator disagrees at 20 users" in first, first
    assert glance.count('data-disputed="true"') == 2, "both primary cells at 20 users are marked"
    sentences = re.findall(r"<li>(.*?)</li>", glance, re.S)
    verdicts_at_top = [t for t in sentences if t.startswith("At 20 users")]
    assert len(verdicts_at_top) == 2 and all(
        "not a verdict: wrk disagrees" in t for t in verdicts_at_top
    ), "no winner is crowned that wrk contradicts"
    assert not any(w in " ".join(verdicts_at_top) for w in ("no significant difference",))
    assert run_page.view(data)["trust"]["level"] == "suspect"


def test_the_analysis_reads_only_blocks_both_generators_ran(tmp_path) -> None:
    """A variant with no wrk turn is left out of the agreement, not compared with nothing."""
    data = store.load(old_run(tmp_path))
    name = next(iter(data.scenarios))
    data.scenarios[name].cross_check = CrossCheck(
        design="blocks", scenario=name, users=50, blocks=2, window_seconds=4,
        wrk_version="wrk 4.1.0", windows=[],
    )  # fmt: skip
    assert cross_report.analyse(data, name) is None and cross_report.headline(data, name) is None


def _synthetic(tmp_path: Path, locust: list[float], wrk: list[float]) -> RunResults:
    """Four blocks of two variants under both generators: the variant's throughput is the
    baseline's times ``locust`` (or ``wrk``) block by block; p99 is the same for both."""
    data = store.load(old_run(tmp_path))
    name = next(iter(data.scenarios))
    baseline, variant = data.scenarios[name].variants[:2]
    base_rps, base_p99 = [100.0, 120.0, 90.0, 110.0], [50.0, 52.0, 48.0, 51.0]
    noise = [1.01, 0.99, 1.02, 0.98]
    windows = []
    for generator, factors in (("locust", locust), ("wrk", wrk)):
        for block, (rps, p99, factor, wobble) in enumerate(
            zip(base_rps, base_p99, factors, noise, strict=True), start=1
        ):
            for who, value, latency in (
                (baseline, rps, p99),
                (variant, rps * factor, p99 * wobble),
            ):
                windows.append(
                    CrossWindow(
                        block=block, variant=who, generator=generator, requests=int(value * 4),
                        successes=int(value * 4), seconds=4, throughput_rps=value,
                        p50=latency / 2, p95=latency, p99=latency, error_rate=0,
                    )
                )  # fmt: skip
    data.scenarios[name].cross_check = CrossCheck(
        design="blocks", scenario=name, users=50, blocks=4, window_seconds=4,
        wrk_version="wrk 4.1.0", windows=windows,
    )  # fmt: skip
    return data


def _throughput(data: RunResults):
    view = cross_report.analyse(data, next(iter(data.scenarios)))
    assert view is not None
    return next(v for v in view.verdicts if v.metric == "throughput")


def test_a_verdict_beside_no_significant_difference_is_not_a_disagreement(tmp_path) -> None:
    """Locust: 0.7x, steadily; wrk: about 0.7x too, but too spread to be a verdict."""
    pair = _throughput(_synthetic(tmp_path, [0.7, 0.71, 0.69, 0.7], [0.5, 0.95, 0.7, 0.65]))
    assert pair.locust.better is False and pair.wrk.better is None
    assert not pair.gap_significant and not pair.disagree


def test_opposite_verdicts_are_a_disagreement(tmp_path) -> None:
    pair = _throughput(_synthetic(tmp_path, [0.7, 0.71, 0.69, 0.7], [1.4, 1.42, 1.39, 1.41]))
    assert pair.locust.better is False and pair.wrk.better is True
    assert pair.opposite and pair.disagree


def test_the_same_direction_by_a_different_amount_is_a_disagreement(tmp_path) -> None:
    """Both say worse, but wrk's ratio is steadily 1.3x Locust's: the generator changes it."""
    pair = _throughput(_synthetic(tmp_path, [0.7, 0.71, 0.69, 0.7], [0.91, 0.92, 0.9, 0.91]))
    assert pair.locust.better is False and pair.wrk.better is False and not pair.opposite
    assert pair.gap_significant and pair.disagree
    assert pair.gap is not None and 1.25 < pair.gap.ratio < 1.35


def test_wrk_counts_error_responses_as_failures(seeded, tmp_path) -> None:
    """Ids beyond the seed: every answer is a 404, so nothing is a success; the script
    counts only the window it was given."""
    wrk = crosscheck.find_wrk()
    if wrk is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    service = start_service("flask", seeded, tmp_path)
    now = time.time()
    meta = WindowMeta(
        window=0, step=0, users=4, block=1, position=1, variant="flask", switch_at=now,
        start=now + 0.5, end=now + 2.5, generator="wrk", tail=1.0, host=service.url,
    )  # fmt: skip
    beyond = {"users": 10**9, "orders": 10**9, "customers": 1, "products": 1}
    try:
        argv = crosscheck.wrk_argv(wrk, meta, "get-user", beyond, 1, close=False)
        output = crosscheck.subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    finally:
        service.stop()
    window = crosscheck.parse(output, meta, None)
    assert window.successes == 0 and window.throughput_rps == 0 and window.p50 is None
    assert window.requests > 10 and window.error_rate == 1.0
    summary = next(line for line in output.splitlines() if " requests in " in line)
    assert int(summary.split()[0]) > window.requests, "the warm-up and tail are not counted"


def test_wrk_output_without_figures_is_a_clear_error() -> None:
    meta = WindowMeta(
        window=0, step=0, users=4, block=1, position=1, variant="flask", switch_at=0,
        start=0, end=1, generator="wrk",
    )  # fmt: skip
    with pytest.raises(crosscheck.SuiteError, match="wrk printed no figures: unable to connect"):
        crosscheck.parse("unable to connect to 127.0.0.1:1 Connection refused\n", meta, None)


def _figures(rps: float, p50: float) -> GeneratorFigures:
    return GeneratorFigures(
        requests=int(rps * 8), successes=int(rps * 8), failures={}, seconds=8.0,
        throughput_rps=rps, p50_ms=p50, latency_includes_failures=False,
    )  # fmt: skip


def test_older_cross_checks_still_warn_and_render(tmp_path) -> None:
    data = store.load(old_run(tmp_path))
    data.cross_check = CrossCheck(
        endpoint="GET /users/{id}", users=50, warmup_seconds=3, window_seconds=8,
        wrk_version="wrk 4.1.0", wrk_command="wrk --threads 1 ...",
        runs=[
            CrossCheckRun(variant="flask", locust=_figures(1000, 40.0), wrk=_figures(1140, 35.0)),
            CrossCheckRun(variant="fastapi", locust=_figures(1000, 40.0), wrk=_figures(1200, 32.0)),
        ],
    )  # fmt: skip
    run_dir = tmp_path / "synthetic"
    run_dir.mkdir()
    store.write(run_dir, data)
    texts = [w.text for w in verdicts.warnings(store.load(run_dir)) if "generators" in w.text]
    assert len(texts) == 1 and "FastAPI" in texts[0], texts
    assert "throughput 1,000 req/s from Locust, 1,200 req/s from wrk (+20%)" in texts[0]
    html = run_page.build(run_dir).read_text()
    panel = html[html.index('id="cross-check"') :]
    panel = panel[: panel.index("</table>")]
    for shown in ("Older results", "1,000", "1,140", "1,200", "+14%", "-12%", "32.0 ms"):
        assert shown in panel, shown
    assert panel.count('class="delta-worse"') == 2


def test_without_wrk_the_run_says_how_to_install_it_before_it_starts(tmp_path) -> None:
    """The notice comes first (the missing PgBouncer then stops this run before anything
    starts)."""
    env = cli_env(tmp_path / "state", PATH=str(tmp_path), PGBOUNCER_BIN=str(tmp_path / "none"))
    result = run_cli("run", "--pgbouncer", "--out", str(tmp_path / "out"), env=env)
    one_line_error(result)
    assert "cross-check skipped: wrk is not installed" in result.stdout
    assert "apt-get install wrk" in result.stdout and "brew install wrk" in result.stdout


def test_without_wrk_the_report_says_it_was_skipped(tmp_path) -> None:
    data = store.load(old_run(tmp_path))
    name = next(iter(data.scenarios))
    data.scenarios[name].cross_check = CrossCheck(
        design="blocks", scenario=name, users=50, blocks=4, window_seconds=4,
        wrk_version=None, note=crosscheck.NOT_INSTALLED,
    )  # fmt: skip
    (tmp_path / "skipped").mkdir()
    store.write(tmp_path / "skipped", data)
    found = store.load(tmp_path / "skipped")
    assert [c.text for c in verdicts.warnings(found) if "Cross-check" in c.text] == [
        f"Cross-check, {name}: {crosscheck.NOT_INSTALLED}."
    ]
    html = run_page.build(tmp_path / "skipped").read_text()
    panel = html[html.index('id="cross-check"') :][:1500]
    assert "skipped" in panel and "apt-get install wrk" in panel


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--cross-check", "0"), "--cross-check must be a number of blocks from 1 to 50 or off"),
        (("--cross-check", "many"), "got 'many'"),
        (("--cross-check", "51"), "got '51'"),
        (("--cross-check", "2", "--steps", "10,600"), "at most 512 users; get-user's highest"),
        (("--connections", "sometimes"), "--connections"),
        (("--audit", "--cross-check", "2"), "--cross-check cannot go with --audit"),
    ],
)
def test_bad_cross_check_input_is_a_one_line_error(args, expected, tmp_path) -> None:
    argv = ("run", "--scenario", "get-user", *args, "--out", str(tmp_path))
    line = one_line_error(run_cli(*argv, env=cli_env(tmp_path)))
    assert expected in line, line


def test_results_without_a_cross_check_still_render(tmp_path) -> None:
    # Schema 1 (converted on load) and a later document written before the fields existed.
    old = old_run(tmp_path)
    assert json.loads((old / "results.json").read_text())["schema_version"] == 1
    written = store.load(old).model_dump(mode="json")
    del written["cross_check"]
    for scenario in written["scenarios"].values():
        del scenario["cross_check"]
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "results.json").write_text(json.dumps(written))
    for run_dir in (old, tmp_path / "later"):
        data: RunResults = store.load(run_dir)
        assert data.cross_check is None
        assert all(s.cross_check is None for s in data.scenarios.values())
        html = run_page.build(run_dir).read_text()
        panel = html[html.index('id="cross-check"') :][:600]
        assert "Not run" in panel, panel
