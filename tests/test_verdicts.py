"""Verdict logic, CPU windows and signal handling: small pure pieces with sharp edges."""

from __future__ import annotations

import os
import signal
import time

import pytest

from loadtests import launcher
from loadtests.cpu import CpuMonitor
from loadtests.infra.processes import interrupts_deferred
from loadtests.report import claims, verdicts

LABELS = {"flask": "Flask", "fastapi": "FastAPI"}


def test_a_service_that_completed_nothing_does_not_win() -> None:
    result = verdicts.compare({"flask": 0.0, "fastapi": 250.0}, lower_is_better=True)
    assert not result.comparable and result.better is None
    assert "cannot be compared" in result.phrase(LABELS, "p99", True)
    errors = verdicts.compare({"flask": 0.0, "fastapi": 0.02}, True, zero_is_data=True)
    assert errors.better == "flask" and errors.factor == float("inf")


def test_within_five_percent_is_a_tie_and_beyond_it_is_not() -> None:
    assert verdicts.compare({"flask": 100.0, "fastapi": 104.0}, True).better is None
    result = verdicts.compare({"flask": 100.0, "fastapi": 130.0}, True)
    assert (result.better, result.worse) == ("flask", "fastapi")
    assert result.phrase(LABELS, "p99", True) == "Flask's p99 is 1.3x lower"


def _step(users: int, p50: float, p99: float, rps: float, errors: int = 0) -> dict:
    return {
        "users": users, "throughput_rps": rps, "errors": errors,
        "error_rate": errors / max(1, rps), "latency_ms": {"p50": p50, "p95": p99, "p99": p99},
    }  # fmt: skip


def test_headlines_name_both_the_tail_and_the_median_when_they_disagree() -> None:
    per_service = {
        "flask": {10: _step(10, 18, 48, 490), 200: _step(200, 466, 635.4, 431)},
        "fastapi": {10: _step(10, 23, 68, 404), 200: _step(200, 110, 5238.8, 343)},
    }
    first, second, third, _ = verdicts.headlines(per_service, LABELS)
    assert first == "At 200 users Flask's p99 is 8.2x lower: 635 ms (Flask) vs 5,239 ms (FastAPI)."
    assert second.startswith("But at 200 users FastAPI's median (p50) is 4.2x lower")
    assert (
        third
        == "At 10 users Flask's throughput is 1.2x higher: 490 req/s (Flask) vs 404 req/s (FastAPI)."
    )


def test_claim_direction_uses_the_same_tie_band() -> None:
    step = {"latency_ms": {"p50": 50.0, "p95": 100.0, "p99": 141.0}, "errors": 0}
    twin = {"latency_ms": {"p50": 50.0, "p95": 100.0, "p99": 142.0}, "errors": 0}
    outcomes = {
        "flask": {"steps": [{**step, "users": 200}]},
        "fastapi": {"steps": [{**twin, "users": 200}]},
    }
    checked = claims.check(claims.ARTICLE_CLAIM, "select-update", outcomes, {})
    p99 = next(row for row in checked["rows"] if row["metric"] == "p99")
    assert p99["claimed_lower"] == "fastapi" and p99["measured_lower"] is None
    assert not p99["agrees"] and not checked["agrees_on_p99"]


def test_default_workers_respect_the_budget_and_an_explicit_choice(seeded, monkeypatch) -> None:
    monkeypatch.delenv("WEB_WORKERS", raising=False)
    allowed, _ = launcher.connection_allowance(seeded.url)
    assert launcher.default_workers(4, seeded.url, {}) == min(4, allowed // 20)
    assert launcher.default_workers(64, seeded.url, {"DB_POOL_SIZE": 60}) == allowed // 60
    assert launcher.default_workers(4, seeded.url, {"WEB_WORKERS": 2}) is None
    monkeypatch.setenv("WEB_WORKERS", "3")
    assert launcher.default_workers(4, seeded.url, {}) is None


def test_a_group_without_processes_is_not_measured_rather_than_idle() -> None:
    import psutil

    monitor = CpuMonitor({"database": lambda: [], "generator": lambda: [psutil.Process()]})
    started = time.time()
    with monitor:
        sum(i * i for i in range(3_000_000))
        time.sleep(2.2)
    window = monitor.window(started, time.time())
    assert window is not None
    assert window.groups["database"] is None and window.busiest_process["database"] is None
    assert window.groups["generator"] > 0


def test_interrupts_wait_for_a_stop_to_finish() -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        finished = True
    assert finished, "the interrupt arrived only after the protected block"
