"""Verdicts that survive the noise and see what is there: variants paired block by block,
one estimate per cell, Holm over the primary comparisons, the power stated; synthetic
blocks with known effects, then a real run in which a copy of the baseline shows nothing
and a variant slowed by a known CPU burn is found. Foreign load and saturation are
judged second by second."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.infra import cpu
from loadtests.report import verdicts
from loadtests.results import analysis, calibration, comparisons, store
from loadtests.results.analysis import Cell
from loadtests.results.comparisons import compare, scenario_comparisons
from loadtests.results.models import (
    FOREIGN_PERCENT,
    BlockValues,
    Failures,
    Latency,
    RunResults,
    Stability,
    Step,
    Window,
)
from tests.helpers import (
    OLD_RESULTS,
    PROJECT_ROOT,
    cli_env,
    old_run,
    one_line_error,
    only_run_dir,
    run_cli,
    scattered,
)

AA_VARIANTS = PROJECT_ROOT / "loadtests" / "aa-variants.toml"


def _step(rps: float, p: float, errors: int = 0, blocks: list[BlockValues] | None = None) -> Step:
    latency = Latency(p50=p, p90=p, p95=p, p99=p * 2, p99_9=p * 2, max=p * 3, min=1, mean=p)
    requests = int(rps) + errors
    return Step(
        step=0, users=50, window=Window(start=0, end=1, seconds=1), requests=requests,
        successes=int(rps), throughput_rps=rps, latency_ms=latency,
        failures=Failures(count=errors, rate=errors / requests, by_kind={}),
        endpoints={}, cpu=None, stability=Stability(seconds=1, throughput_cv=None),
        blocks=blocks or [],
    )  # fmt: skip


def _block(number: int, rps: float, p: float, errors: float = 0.0) -> BlockValues:
    return BlockValues(
        block=number, position=1, window=Window(start=0, end=5, seconds=5), requests=int(rps),
        successes=int(rps), throughput_rps=rps, p50=p, p95=p, p99=p * 2, p99_9=p * 2,
        error_rate=errors,
    )  # fmt: skip


def _blocks(
    name: str, users: int, effect: float, spread: float, drift: list[float], seed: int
) -> Cell:
    """``effect`` x the baseline's speed (throughput up, latency down) in every block,
    times the machine's ``drift`` of that block (shared by every variant) and a variant's
    own noise of ``spread`` (log sd); pooled as the geometric mean."""
    rng = random.Random(seed)
    blocks = []
    for number, machine in enumerate(drift, start=1):
        speed = effect * machine * math.exp(rng.gauss(0, spread))
        blocks.append(_block(number, 500 * speed, 20 / speed))
    rps = math.exp(sum(math.log(b.throughput_rps) for b in blocks) / len(blocks))
    step = _step(rps, 500 * 20 / rps, blocks=blocks)
    return Cell(name, users, (step,), (1,))


DRIFT = [1.0, 0.7, 1.3, 0.9, 1.15, 0.8, 1.05, 0.95]  # the machine: 30% swings between blocks


def test_a_15_percent_effect_with_5_percent_spread_is_a_verdict() -> None:
    base = _blocks("flask", 50, 1.0, 0.05, DRIFT, seed=1)
    slow = _blocks("slow", 50, 1 / 1.15, 0.05, DRIFT, seed=2)
    found = compare(slow, base, "throughput", primary=True)
    assert found.paired is not None and found.paired.p < 0.01
    low, high = found.interval
    assert high < 1 and low < found.value / found.baseline < high
    cells = {"flask": {50: base}, "slow": {50: slow}}
    (throughput,) = [c for c in scenario_comparisons(cells) if c.metric == "throughput"]
    assert throughput.significant and throughput.better is False
    assert verdicts.words(throughput).startswith("1.1") and "lower (" in verdicts.words(throughput)
    assert verdicts.css(throughput) == "worse"


def test_an_equal_pair_is_no_verdict_however_much_the_machine_drifts() -> None:
    base = _blocks("flask", 50, 1.0, 0.05, DRIFT, seed=1)
    same = _blocks("copy", 50, 1.0, 0.05, DRIFT, seed=3)
    cells = {"flask": {50: base}, "copy": {50: same}}
    for found in scenario_comparisons(cells):
        assert found.better is None, (found.metric, verdicts.words(found))
    p99 = next(c for c in scenario_comparisons(cells) if c.metric == "p99")
    assert verdicts.words(p99).startswith("no significant difference (")
    # Unpaired, that drift would swamp a 15% effect: the pairing is what finds it.
    spread = math.log(max(DRIFT) / min(DRIFT))
    assert spread > 0.5


def test_the_estimate_is_pooled_and_the_interval_is_the_blocks() -> None:
    base = _blocks("flask", 50, 1.0, 0.05, DRIFT, seed=1)
    slow = _blocks("slow", 50, 0.8, 0.05, DRIFT, seed=2)
    found = compare(slow, base, "throughput")
    ratio = found.value / found.baseline
    assert ratio == pytest.approx(slow.step.throughput_rps / base.step.throughput_rps)
    assert found.pooled == pytest.approx(math.log(ratio))
    # The interval is of the block-by-block ratio: centred on their geometric mean.
    logs = [
        math.log(a.throughput_rps / b.throughput_rps)
        for a, b in zip(slow.steps[0].blocks, base.steps[0].blocks, strict=True)
    ]
    low, high = found.interval
    assert math.exp(sum(logs) / len(logs)) == pytest.approx(math.sqrt(low * high))


def test_a_pooled_tail_that_one_block_dominates_is_not_overstated() -> None:
    """The pooled p99 follows the worst block; the test follows every block. A copy whose
    one bad block lifts its pooled p99 by 40% is no verdict when its blocks agree."""
    base = _blocks("flask", 50, 1.0, 0.05, DRIFT, seed=1)
    copy = _blocks("copy", 50, 1.0, 0.05, DRIFT, seed=3)
    step = copy.steps[0]
    step = step.model_copy(
        update={"latency_ms": step.latency_ms.model_copy(update={"p99": step.latency_ms.p99 * 1.4})}
    )
    copy = Cell("copy", 50, (step,), (1,))
    found = compare(copy, base, "p99", primary=True)
    assert found.value / found.baseline > 1.3
    assert not found.excludes_neutral, verdicts.words(found)


def test_only_primary_comparisons_are_verdicts_and_holm_controls_them() -> None:
    steps = (10, 50, 200)
    cells = {
        "flask": {u: _blocks("flask", u, 1.0, 0.05, DRIFT, seed=u) for u in steps},
        "slow": {u: _blocks("slow", u, 0.7, 0.05, DRIFT, seed=u + 1) for u in steps},
    }
    found = scenario_comparisons(cells)
    primary = [c for c in found if c.primary]
    assert {(c.metric, c.users) for c in primary} == {
        ("throughput", 200),
        ("p99", 10),
        ("p99", 50),
        ("p99", 200),
    }
    assert all(c.p_adjusted is not None and c.p_adjusted >= c.paired.p for c in primary)
    exploratory = [c for c in found if not c.primary]
    assert all(c.better is None and verdicts.css(c) == "exploratory" for c in exploratory)
    assert any(c.excludes_neutral for c in exploratory), "shown with its interval, not coloured"
    assert comparisons.family_size(found) == 4


def test_holm_can_take_back_what_one_comparison_alone_would_call() -> None:
    """Five primary comparisons each just below 5% on their own: none survives Holm."""
    family = [0.04, 0.045, 0.03, 0.049, 0.035]
    assert not any(comparisons.stats.holm(family))


def test_a_dropped_block_is_said_not_silent() -> None:
    base = _blocks("flask", 50, 1.0, 0.05, DRIFT, seed=1)
    slow = _blocks("slow", 50, 0.8, 0.05, DRIFT, seed=2)
    empty = slow.steps[0].blocks[3].model_copy(update={"p50": 0.0, "p99": 0.0})
    blocks = [*slow.steps[0].blocks[:3], empty, *slow.steps[0].blocks[4:]]
    slow = Cell("slow", 50, (slow.steps[0].model_copy(update={"blocks": blocks}),), (1,))
    p99 = compare(slow, base, "p99")
    assert (p99.pairs, p99.dropped) == (7, 1)
    assert compare(slow, base, "throughput").dropped == 0


def test_one_block_gives_no_verdict() -> None:
    base = _blocks("flask", 50, 1.0, 0.05, [1.0], seed=1)
    slow = _blocks("slow", 50, 0.5, 0.05, [1.0], seed=2)
    found = scenario_comparisons({"flask": {50: base}, "slow": {50: slow}})
    assert all(c.better is None for c in found)
    assert "one block: not tested" in verdicts.words(found[0])


def test_power_is_stated_from_the_spread_and_shrinks_with_it() -> None:
    def detectable(spread: float) -> float:
        cells = {
            "flask": {50: _blocks("flask", 50, 1.0, spread, DRIFT, seed=1)},
            "copy": {50: _blocks("copy", 50, 1.0, spread, DRIFT, seed=3)},
        }
        (throughput,) = [p for p in comparisons.power(scenario_comparisons(cells))
                         if p.metric == "throughput"]  # fmt: skip
        return throughput.detectable

    wide, narrow = detectable(0.10), detectable(0.02)
    assert narrow < wide and 1.0 < narrow < 1.06 < wide < 1.5
    statement = verdicts.power_statement(
        {"flask": {50: _blocks("flask", 50, 1.0, 0.05, DRIFT, 1)},
         "copy": {50: _blocks("copy", 50, 1.0, 0.05, DRIFT, 3)}}
    )  # fmt: skip
    assert statement is not None and "would be detected 80% of the time" in statement["text"]


def test_foreign_load_on_a_pinned_core_is_named(tmp_path: Path) -> None:
    """A busy loop pinned to one core, outside every group the suite watches."""
    cores = cpu.available_cpus()
    if len(cores) < 2:
        pytest.skip("needs two CPUs")
    busy = subprocess.Popen(
        ["taskset", "-c", str(cores[-1]), sys.executable, "-c", "while True: pass"]
    )
    try:
        with cpu.CpuMonitor({"service": list}) as monitor:
            start = time.time()
            time.sleep(3.5)
            end = time.time()
        placement = {"service": (cores[-1],), "generator": tuple(cores[:-1])}
        window = monitor.window(start, end, placement)
    finally:
        busy.kill()
        busy.wait()
    assert window is not None and window.seconds_judged >= 2
    assert window.foreign[cores[-1]] > 60, window.foreign
    # Our own process on that core is not foreign.
    placement = {"service": (cores[-1],)}
    monitor.groups = {"service": lambda: []}
    samples = monitor.samples
    ours = [cpu.Sample(s.at, {"service": {busy.pid: 0.0}}, s.cores) for s in samples]
    for sample, before in zip(ours, samples, strict=True):
        core = before.cores[cores[-1]]
        sample.groups["service"][busy.pid] = core[3]  # all of the core's process time
    monitor.samples = ours
    assert monitor.window(start, end, placement).foreign[cores[-1]] < FOREIGN_PERCENT


def test_saturation_is_judged_second_by_second() -> None:
    def sample(at: float, generator_cpu: float) -> cpu.Sample:
        return cpu.Sample(at, {"generator": {1: generator_cpu}}, [(0.0, 0.0, at, 0.0)] * 2)

    # Saturated for 2 seconds, idle for 4: the window mean (33%) would hide it; 2 < 3.
    samples = [
        sample(0, 0),
        sample(1, 0.95),
        sample(2, 1.9),
        *(sample(t, 1.9) for t in (3, 4, 5, 6)),
    ]
    monitor = cpu.CpuMonitor({})
    monitor.samples = samples
    window = monitor.window(0, 6, {"generator": (0,)})
    assert (window.seconds_judged, window.saturated_seconds) == (6, 2)
    monitor.samples = [*samples[:3], sample(3, 2.85), *(sample(t, 2.85) for t in (4, 5, 6))]
    assert monitor.window(0, 6, {"generator": (0,)}).saturated_seconds == 3


@pytest.mark.slow
@pytest.mark.alone
def test_a_copy_is_no_difference_and_a_known_slowdown_is_found(seeded, state_dir, tmp_path) -> None:
    """One run of blocks: Flask, an exact copy of it, and Flask burning 0.4 ms of CPU per
    request on its one pinned core (about 20% of its throughput at this load)."""
    result = run_cli(
        "run", "--variants", str(AA_VARIANTS), "--services", "flask,flask:copy,flask:slower",
        "--scenario", "select-update", "--steps", "20", "--blocks", "8", "--step-seconds", "4",
        "--switch-seconds", "1.5", "--warmup-seconds", "3", "--cross-check", "off",
        "--no-ceiling", "--out", str(tmp_path),
        env=cli_env(state_dir), timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    run_dir = only_run_dir(tmp_path)
    data = store.load(run_dir)
    found = scenario_comparisons(analysis.grid(data, "select-update"))
    aa = [c for c in found if c.variant == "flask:copy" and c.primary]
    assert aa and not any(c.significant for c in aa), [verdicts.words(c) for c in aa]
    (slower,) = [c for c in found if c.variant == "flask:slower" and c.metric == "throughput"]
    assert slower.significant and slower.better is False, verdicts.words(slower)
    assert 1.05 < slower.baseline / slower.value < 1.6, verdicts.words(slower)
    checked = calibration.check(data)
    assert checked.copies == ["flask:copy"] and checked.primary == len(aa)
    assert not checked.false_positives
    html = (run_dir / "index.html").read_text()
    assert "no significant difference" in html and "would be detected 80% of the time" in html


def test_five_percent_errors_at_any_step_turn_the_badge_red() -> None:
    def warnings_for(errors: int) -> list[verdicts.Caveat]:
        return verdicts._step_warnings("flask, 50 users", _step(100, 10, errors=errors))

    (medium,) = warnings_for(2)  # 2 of 102 requests
    assert medium.severity == "medium" and "cannot win" in medium.text
    (high,) = warnings_for(6)  # 6 of 106
    assert high.severity == "high" and "suspect" in high.text
    assert verdicts.trust([high])["level"] == "suspect"


BIG_POOLS = """
["flask:big"]
service = "flask"
settings = { DB_POOL_SIZE = 70 }

["flask:big2"]
service = "flask"
settings = { DB_POOL_SIZE = 70 }

["flask:big3"]
service = "flask"
settings = { DB_POOL_SIZE = 70 }
"""


def test_pools_that_do_not_fit_an_external_server_are_refused(seeded, state_dir, tmp_path) -> None:
    """Every variant's pool is open at once: 3 x 70 connections do not fit the server's
    200 (less reserved slots and the suite's own), and a server the suite does not
    manage is never reconfigured."""
    variants = tmp_path / "big.toml"
    variants.write_text(BIG_POOLS)
    result = run_cli(
        "run", "--variants", str(variants), "--services", "flask:big,flask:big2,flask:big3",
        "--steps", "5", "--cross-check", "off", "--no-ceiling", "--out", str(tmp_path / "out"),
        env=cli_env(state_dir, DATABASE_URL=seeded.url),
    )  # fmt: skip
    line = one_line_error(result)
    assert "pools together can hold 210 connections" in line and "lower DB_POOL_SIZE" in line


@pytest.mark.slow
def test_pools_that_do_not_fit_the_embedded_server_raise_its_max_connections(
    tmp_path, monkeypatch
) -> None:
    from loadtests.infra import database
    from loadtests.infra.cpu import plan_layout
    from loadtests.infra.postgres import EmbeddedPostgres, layout
    from loadtests.run.service import ServiceUnderTest
    from loadtests.run.setup import _room_for_every_pool
    from loadtests.variants import load_file

    monkeypatch.setenv("LOADTESTS_STATE_DIR", str(tmp_path / "state"))
    server = EmbeddedPostgres(layout())
    state, _ = server.up()
    try:
        target = database.Target(url=state.url(), embedded=state)
        (tmp_path / "big.toml").write_text(BIG_POOLS)
        catalogue = load_file(tmp_path / "big.toml")
        services = {
            name: ServiceUnderTest.prepare(catalogue[name], target.url, plan_layout(True), {})
            for name in ("flask:big", "flask:big2", "flask:big3")
        }
        raised, connections = _room_for_every_pool(target, services)
        assert (connections.needed, connections.raised_from) == (210, 200)
        assert connections.allowed >= 210 and raised.embedded.port == state.port
        limits = database.connection_limits(raised.url)
        assert limits["max_connections"] == connections.max_connections
    finally:
        server.destroy()


def test_calibrate_needs_a_copy_of_the_baseline(state_dir, tmp_path) -> None:
    run = old_run(tmp_path)
    line = one_line_error(run_cli("calibrate", str(run), env=cli_env(state_dir)))
    assert "no A/A comparison found" in line
    line = one_line_error(run_cli("calibrate", str(tmp_path / "nowhere"), env=cli_env(state_dir)))
    assert "no results.json" in line


def _aa_document(factor: float) -> RunResults:
    """The old sample run as an A/A run: its second variant becomes a copy of the baseline
    (the same service, mode and settings, the same figures), then every step in 8 blocks
    scattered by 2% (log sd), the copy's latency times ``factor``."""
    data = store.load(OLD_RESULTS)
    base, copy = data.variants
    data.variants[copy] = data.variants[base].model_copy(update={"name": copy, "label": copy})
    for scenario in data.scenarios.values():
        runs = {run.variant: run for run in scenario.runs}
        runs[copy].steps = [step.model_copy(deep=True) for step in runs[base].steps]
    return scattered(lambda v: factor if v == copy else 1.0, noise=0.02, blocks=8, data=data)


def test_calibration_reports_a_copy_that_differs_as_a_false_positive() -> None:
    """The A/A check must be able to fail: a 'copy' measured 30% slower in every block is
    exactly what it exists to report; the same copy measured alike reports nothing. (Alike
    is a draw: at 5% a real A/A run is flagged by chance now and then, which is why the
    check counts them over runs; this seed's draw is one that is not.)"""
    alike = calibration.check(_aa_document(1.0))
    assert alike.copies == ["fastapi"] and alike.primary > 0
    assert alike.false_positives == []
    differs = calibration.check(_aa_document(1.3))
    assert differs.primary == alike.primary
    assert differs.false_positives and "fastapi" in differs.false_positives[0]
