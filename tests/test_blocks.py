"""Verdicts that survive the noise: paired intervals against the measured noise band, an
A/A run that finds no difference, a slowed variant that is found, foreign load and
saturation judged second by second."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.infra import cpu
from loadtests.report import verdicts
from loadtests.results import analysis, noise, store
from loadtests.results.analysis import Cell
from loadtests.results.models import (
    FOREIGN_PERCENT,
    Failures,
    Latency,
    NoiseBand,
    Stability,
    Step,
    Window,
)
from tests.helpers import PROJECT_ROOT, cli_env, only_run_dir, run_cli

BAND = NoiseBand(ratio=1.05, error_points=0.005, comparisons=10, source="test")
SLOW = PROJECT_ROOT / "tests" / "data" / "slowed-variants.toml"


def _step(rps: float, p: float, errors: int = 0) -> Step:
    latency = Latency(p50=p, p90=p, p95=p, p99=p * 2, p99_9=p * 2, max=p * 3, min=1, mean=p)
    requests = int(rps) + errors
    return Step(
        step=0, users=50, window=Window(start=0, end=1, seconds=1), requests=requests,
        successes=int(rps), throughput_rps=rps, latency_ms=latency,
        failures=Failures(count=errors, rate=errors / requests, by_kind={}),
        endpoints={}, cpu=None, stability=Stability(seconds=1, throughput_cv=None),
    )  # fmt: skip


def _cell(name: str, *rounds: tuple[float, float]) -> Cell:
    return Cell(name, 50, tuple(_step(r, p) for r, p in rounds), tuple(range(1, len(rounds) + 1)))


def test_a_drifting_machine_is_no_difference_and_a_steady_gap_is() -> None:
    # Rounds drift by 30% together; the variant stays within 2% of the baseline in each.
    base = _cell("flask", (500, 20), (350, 28), (520, 19))
    same = _cell("copy", (505, 20.2), (345, 28.3), (515, 19.1))
    result = verdicts.versus(same, base, "throughput", BAND)
    assert result.better is None and result.words().startswith("no significant difference (")
    # A steady 1.8x, whatever the drift: significant, with its interval.
    slow = _cell("slow", (280, 36), (195, 50), (290, 34))
    result = verdicts.versus(slow, base, "throughput", BAND)
    assert result.better is False and result.words().startswith("1.79x lower (1.7")
    assert verdicts.versus(slow, base, "p50", BAND).better is False
    # Unpaired, the same medians with one round cannot be told apart from noise.
    one = verdicts.versus(_cell("slow", (280, 36)), _cell("flask", (500, 20)), "p50", BAND)
    assert one.better is None and "one round: not tested" in one.words()


def test_a_difference_inside_the_band_is_not_a_win() -> None:
    base = _cell("flask", (500, 20), (500, 20), (500, 20))
    faster = _cell("fast", (520, 20), (521, 20), (519, 20))  # a tight interval around 1.04
    assert verdicts.versus(faster, base, "throughput", BAND).better is None
    assert verdicts.versus(faster, base, "throughput", BAND.model_copy(update={"ratio": 1.02}))


def test_the_band_is_the_smallest_that_clears_every_aa_comparison() -> None:
    comparisons = [
        noise.Comparison("s", ("a", "b"), 10, "p99", 1.03, 1.01, 1.05),  # misses 1 by 1%
        noise.Comparison("s", ("a", "b"), 50, "p50", 0.99, 0.97, 1.02),  # contains 1
    ]
    assert [round(c.miss, 4) for c in comparisons] == [0.01, 0.0]
    assert noise.current().ratio >= noise.MINIMUM
    assert noise.current().comparisons > 0, "the shipped band comes from A/A runs"


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
def test_aa_finds_no_difference_and_a_slowed_variant_is_found(seeded, state_dir, tmp_path) -> None:
    """One run, three rounds in shuffled order: Flask, an exact copy of it, and Flask
    waiting 200 ms on a simulated external call per request (its 20 threads then serve
    at most about 100 requests a second)."""
    result = run_cli(
        "run", "--variants", str(SLOW), "--services", "flask,flask:copy,flask:slowed",
        "--scenario", "select-update", "--steps", "20", "--step-seconds", "4",
        "--warmup-seconds", "1", "--rounds", "3", "--cross-check", "off", "--out", str(tmp_path),
        env=cli_env(state_dir), timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    run_dir = only_run_dir(tmp_path)
    data = store.load(run_dir)
    cells = analysis.grid(data, "select-update")
    band = verdicts.band_of(data)
    assert data.run.noise_band == band
    rows = verdicts.against_baseline(cells, ("throughput", "p50", "p95", "p99", "error_rate"), band)
    aa = [v for row in rows if row["variant"] == "flask:copy" for v in row["versus"].values()]
    quiet = [v for v in aa if v.better is None]
    assert len(quiet) / len(aa) >= 0.95, [v.words() for v in aa]
    slowed = [row["versus"]["throughput"] for row in rows if row["variant"] == "flask:slowed"]
    assert any(v.better is False for v in slowed), [v.words() for v in slowed]
    html = (run_dir / "index.html").read_text()
    assert "no significant difference" in html and "smallest difference this run" in html


def test_five_percent_errors_at_any_step_turn_the_badge_red() -> None:
    def warnings_for(errors: int) -> list[verdicts.Caveat]:
        return verdicts._step_warnings("flask, 50 users", _step(100, 10, errors=errors))

    (medium,) = warnings_for(2)  # 2 of 102 requests
    assert medium.severity == "medium" and "cannot win" in medium.text
    (high,) = warnings_for(6)  # 6 of 106
    assert high.severity == "high" and "suspect" in high.text
    assert verdicts.trust([high])["level"] == "suspect"
