"""The open model in real runs: a database freeze shows in the intended-time latency and
hides in the closed model; an arrival no user is idle for is dropped, counted and
flagged; the generator's lag is measured; a variant's backlog is answered before the
next turn; bad input is one line."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import pytest

from loadtests.recording import wire
from loadtests.report import run_page, verdicts
from loadtests.results import store
from loadtests.results.models import OpenFigures
from loadtests.run.extras.faults import FAULT_MARGIN_S
from tests.helpers import cli_env, one_line_error, run_cli, run_to_dir

SAME = 0.25  # a choice: throughputs within 25% of each other count as the same
FREEZE_S = 1.0
WINDOW_S = FREEZE_S + 2 * FAULT_MARGIN_S  # the fault's window: the freeze in its middle
COMMON = ("--scenario", "get-user", "--services", "flask", "--blocks", "1", "--step-seconds", "4",
          "--warmup-seconds", "2", "--cross-check", "off", "--no-ceiling")  # fmt: skip


def _run(state_dir: Path, out: Path, *args: str) -> Path:
    return run_to_dir(state_dir, out, *COMMON, *args, timeout=240)


@pytest.mark.slow
@pytest.mark.alone
def test_a_freeze_shows_in_the_open_model_and_hides_in_the_closed(seeded, state_dir, tmp_path):
    """One closed-model user first; its throughput over the fault's window is then the
    open model's rate R, so both models run at the same mean throughput (within SAME) on
    any machine. At R arrivals a second, a 1 s freeze delays the R x 1 s requests that
    arrive during it by up to 1 s: the k-th of them arrives k / R after the freeze began
    and waits about 1 s - k / R, so the window's percentile q is at least about
    1 s - (1 - q) x WINDOW_S. The closed user has one request in flight during the
    freeze, so its p99 does not show it."""
    fault = ("--fault", "db-freeze@1", "--fault-seconds", f"{FREEZE_S:g}")
    closed_run = store.load(_run(state_dir, tmp_path / "closed", "--steps", "1", *fault))
    (closed,) = closed_run.scenarios["get-user"].runs
    hidden = closed.fault_window
    assert hidden is not None
    rate = round(hidden.throughput_rps)
    open_run = store.load(
        _run(state_dir, tmp_path / "open", "--model", "open", "--rates", str(rate), *fault)
    )
    (opened,) = open_run.scenarios["get-user"].runs
    window = opened.fault_window
    assert window is not None
    assert abs(window.requests - rate * WINDOW_S) < 0.15 * rate * WINDOW_S, window.requests
    assert window.failures.count == 0
    lower_p99 = (FREEZE_S - 0.01 * WINDOW_S) * 1000
    lower_p95 = (FREEZE_S - 0.05 * WINDOW_S) * 1000
    assert 0.8 * lower_p99 <= window.latency_ms.p99 <= (FREEZE_S + 0.5) * 1000, window.latency_ms
    assert window.latency_ms.p95 >= 0.5 * lower_p95, window.latency_ms
    # The same freeze, closed: one user, the same mean throughput, the tail hidden.
    assert abs(hidden.throughput_rps / window.throughput_rps - 1) <= SAME, (hidden, window)
    print(f"fault window: open {window.throughput_rps:.0f} req/s, p99 "
          f"{window.latency_ms.p99:.0f} ms; closed {hidden.throughput_rps:.0f} req/s, p99 "
          f"{hidden.latency_ms.p99:.1f} ms")  # fmt: skip
    assert hidden.latency_ms.max >= 0.8 * FREEZE_S * 1000, "the one delayed request is there"
    assert window.latency_ms.p99 >= 5 * hidden.latency_ms.p99, (window.latency_ms, hidden)
    # The steps around the fault: the schedule kept, both latencies recorded.
    (step,) = opened.steps
    assert step.open is not None and step.open.offered_rps == rate and step.open.dropped == 0
    assert step.open.lag_p99_ms is not None and step.open.lag_p99_ms < 10
    assert step.service_latency_ms is not None
    assert step.service_latency_ms.p50 <= step.latency_ms.p50
    assert abs(step.throughput_rps - rate) < 0.15 * rate
    assert open_run.scenarios["get-user"].plan.model == "open"


@pytest.mark.slow
@pytest.mark.alone
def test_a_starved_generator_drops_and_says_so(seeded, state_dir, tmp_path) -> None:
    """Two users cannot carry 2,000 arrivals a second: most are dropped, counted, and the
    trust panel names the step. Writes, audited: a dropped arrival sent nothing, so the
    ledger of acknowledged writes still matches the database."""
    run_dir = _run(state_dir, tmp_path, "--model", "open", "--rates", "2000",
                   "--max-in-flight", "2", "--scenario", "select-update", "--audit")  # fmt: skip
    data = store.load(run_dir)
    (run,) = data.scenarios["select-update"].runs
    figures = run.steps[0].open
    assert figures is not None and figures.dropped_rate > 0.2, figures
    assert figures.arrivals == figures.dropped + run.steps[0].requests
    assert abs(figures.arrivals - 2000 * 4) < 0.15 * 2000 * 4
    caveats = [c for c in verdicts.warnings(data) if "dropped" in c.text]
    assert len(caveats) == 1 and caveats[0].severity == "high"
    assert "select-update, Flask, 2000 req/s offered" in caveats[0].text
    audit = data.scenarios["select-update"].audit
    assert audit is not None and audit.ok and audit.complete, audit
    assert audit.writes["PATCH /users/{id}"].acknowledged > 0, audit.writes
    html = run_page.build(run_dir).read_text()
    assert "dropped</span>" in html and "An open model." in html
    assert "2000 req/s offered" in html


# 5 ms of CPU per request on the service's core: at most about 150 answers a second, so
# 300 arrivals a second leave a backlog of hundreds of requests at the end of each turn.
BURN = '["flask:burn"]\nservice = "flask"\nsettings = { CPU_BURN_MS = 5.0 }\n'


@pytest.mark.slow
@pytest.mark.alone
def test_a_backlog_is_answered_before_the_next_turn_across_workers(seeded, state_dir, tmp_path):
    """An overloaded variant and a fast one take turns, generated by two Locust workers:
    after each turn the master waits until both workers' requests are answered, the next
    switch comes after that wait, and the fast variant, measured right after the backlog
    in one of the blocks, keeps the latency it has on its own."""
    variants = tmp_path / "burn.toml"
    variants.write_text(BURN)
    run_dir = run_to_dir(
        state_dir, tmp_path / "out", "--scenario", "get-user", "--services", "flask,flask:burn",
        "--variants", str(variants), "--blocks", "2", "--step-seconds", "4",
        "--warmup-seconds", "2", "--cross-check", "off", "--no-ceiling", "--model", "open",
        "--rates", "300", "--workers", "2", timeout=240,
    )  # fmt: skip
    (recorded,) = [wire.read(p) for p in run_dir.glob("locust/*.json") if "schedule" not in p.name]
    windows = sorted(recorded.windows.values(), key=lambda w: w.window)
    assert [w.variant for w in windows].count("flask:burn") == 2
    for before, after in itertools.pairwise(windows):
        assert before.settle_s is not None and before.unanswered == 0, before
        assert after.switch_at >= before.end + before.settle_s - 0.05, (before, after)
    assert windows[-1].settle_s is not None, "the last window's backlog is waited for too"
    backlogs = [w.settle_s or 0.0 for w in windows if w.variant == "flask:burn"]
    assert min(backlogs) > 0.5, backlogs
    runs = {o.variant: o for o in store.load(run_dir).scenarios["get-user"].runs}
    assert runs["flask"].steps[0].latency_ms.p99 < 250, runs["flask"].steps[0].latency_ms
    (burnt,) = runs["flask:burn"].steps
    assert burnt.latency_ms.p99 > 1000, "it was overloaded"
    # Every arrival of its windows is accounted for, the backlog's too (answered late, in
    # the latency), while its throughput is what the service completed in them.
    assert burnt.open is not None and abs(burnt.open.arrivals - 300 * 8) < 0.15 * 300 * 8
    assert burnt.throughput_rps < 0.8 * 300, burnt.throughput_rps
    html = run_page.build(run_dir).read_text()
    assert "backlog answered within" in html and "Between turns" in html


def _step(dropped_rate: float, lag_p99_ms: float) -> SimpleNamespace:
    return SimpleNamespace(
        open=OpenFigures(
            offered_rps=100, arrivals=1000, dropped=round(dropped_rate * 1000),
            dropped_rate=dropped_rate, lag_p50_ms=1.0, lag_p99_ms=lag_p99_ms, lag_max_ms=20.0,
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    ("dropped_rate", "lag_ms", "expected"),
    [
        (0.0, 1.0, []),
        (0.009, 9.9, []),  # just inside both choices
        (0.01, 9.9, ["high"]),  # 1% dropped: cannot win
        (0.0, 10.5, ["medium"]),  # behind schedule
        (0.05, 30.0, ["high", "medium"]),
    ],
)
def test_drops_and_lag_are_flagged_at_their_thresholds(dropped_rate, lag_ms, expected) -> None:
    found = verdicts._open_warnings("s, v, 100 req/s offered", _step(dropped_rate, lag_ms))
    assert [c.severity for c in found] == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--model", "open", "--steps", "10"), "the open model's steps are arrival rates"),
        (("--rates", "100"), "--rates is the open model's"),
        (("--max-in-flight", "5"), "are the open model's: add --model open"),
        (("--model", "open", "--rates", "100", "--max-in-flight", "0"), "--max-in-flight must be"),
        (("--model", "open", "--rates", "0"), "steps must be positive"),
        (("--model", "open", "--rates", "100", "--cross-check", "2"), "closed-model generator"),
        (
            (
                "--model",
                "sometimes",
            ),
            "--model",
        ),
        (("--model", "open", "--rates", "100", "--arrivals", "bursty"), "--arrivals"),
    ],
)
def test_bad_open_model_input_is_a_one_line_error(args, expected, tmp_path) -> None:
    argv = ("run", "--scenario", "get-user", *args, "--out", str(tmp_path))
    assert expected in one_line_error(run_cli(*argv, env=cli_env(tmp_path)))
