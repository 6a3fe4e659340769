"""Verdict logic, CPU windows and signal handling: small pure pieces with sharp edges."""

from __future__ import annotations

import itertools
import math
import random
import signal
import threading
import time

import pytest

from loadtests.infra.cpu import CpuMonitor
from loadtests.infra.processes import interrupts_deferred
from loadtests.report import published, verdicts
from loadtests.results.analysis import Cell
from loadtests.results.comparisons import compare
from loadtests.results.models import BlockValues, Failures, Latency, Stability, Step, Window

LABELS = {"flask": "Flask", "fastapi": "FastAPI", "fastapi:fair": "FastAPI (fair queue)"}
# The machine's speed in six blocks, and each variant's own small wobble in them: the
# drift hits every variant of a block alike, the wobble does not.
DRIFT = (1.0, 0.8, 1.1, 0.9, 1.2, 0.85)
SEEDS = itertools.count(1)  # every step its own wobble: 3% (log sd) around its figures


def step(users: int, p50: float, p99: float, rps: float, errors: int = 0) -> Step:
    """A pooled step of six blocks around these figures."""
    latency = Latency(p50=p50, p90=p99, p95=p99, p99=p99, p99_9=p99, max=p99, min=1, mean=p50)
    requests = int(rps) + errors
    rng = random.Random(next(SEEDS))
    wobble = [math.exp(rng.gauss(0, 0.03)) for _ in DRIFT]
    blocks = [
        BlockValues(
            block=number, position=1, window=Window(start=0, end=5, seconds=5),
            requests=requests, successes=int(rps), throughput_rps=rps * d * w,
            p50=p50 / (d * w), p95=p99 / (d * w), p99=p99 / (d * w), p99_9=p99 / (d * w),
            error_rate=errors / max(1, requests),
        )
        for number, (d, w) in enumerate(zip(DRIFT, wobble, strict=True), start=1)
    ]  # fmt: skip
    return Step(
        step=0, users=users, window=Window(start=0, end=30, seconds=30),
        requests=requests, successes=int(rps), throughput_rps=rps, latency_ms=latency,
        failures=Failures(count=errors, rate=errors / max(1, requests), by_kind={"http_503": errors} if errors else {}),
        endpoints={}, cpu=None, stability=Stability(seconds=1, throughput_cv=None), blocks=blocks,
    )  # fmt: skip


def grid(**variants: dict[int, Step]) -> dict[str, dict[int, Cell]]:
    return {
        name.replace("_", ":"): {
            u: Cell(name.replace("_", ":"), u, (s,), (1,)) for u, s in steps.items()
        }
        for name, steps in variants.items()
    }


def test_a_variant_that_completed_nothing_does_not_win() -> None:
    cells = grid(flask={10: step(10, 0, 0, 0)}, fastapi={10: step(10, 10, 250, 100)})
    result = compare(cells["fastapi"][10], cells["flask"][10], "p99", primary=True)
    assert not result.comparable and result.better is None
    assert verdicts.words(result) == "nothing completed"


def test_a_failing_step_cannot_win_on_latency_or_throughput() -> None:
    cells = grid(flask={10: step(10, 20, 200, 400)}, fastapi={10: step(10, 2, 5, 900, errors=50)})
    for metric in ("p50", "p99", "throughput"):
        result = compare(cells["fastapi"][10], cells["flask"][10], metric, primary=True)
        assert result.better is None and "errors" in verdicts.words(result), metric
    errors = compare(cells["fastapi"][10], cells["flask"][10], "error_rate")
    assert errors.better is None, "error rates are exploratory: never a verdict"
    assert verdicts.words(errors).startswith("+5.26 pp"), verdicts.words(errors)


def test_headlines_compare_every_variant_with_the_baseline() -> None:
    cells = grid(
        flask={10: step(10, 18, 48, 490), 200: step(200, 466, 635.4, 431)},
        fastapi={10: step(10, 23, 68, 404), 200: step(200, 110, 5238.8, 343)},
        fastapi_fair={10: step(10, 23, 66, 392), 200: step(200, 450, 640, 420)},
    )
    p99, throughput, flipped, peaks = verdicts.headlines(cells, LABELS)
    assert p99.startswith("At 200 users, p99 against Flask's 635 ms: FastAPI 8.2x higher (")
    assert "FastAPI (fair queue) no significant difference (" in p99 and p99.endswith(": 640 ms.")
    assert throughput.startswith(
        "At 200 users, throughput against Flask's 431 req/s: FastAPI 1.26x lower ("
    )
    assert "the median and the tail point different ways" in flipped and "FastAPI" in flipped
    assert peaks.startswith("Peak throughput: Flask 490 req/s at 10 users")


def test_published_claim_agrees_only_with_a_clear_winner() -> None:
    claim = published.CLAIMS[0]
    cells = grid(flask={200: step(200, 50, 141, 400)}, fastapi={200: step(200, 50, 142, 400)})
    checked = published.check(claim, "select-update", cells)
    p99 = next(row for row in checked["rows"] if row["metric"] == "p99")
    assert p99["claimed_best"] == "fastapi" and p99["measured_best"] is None
    assert not p99["agrees"]
    assert published.check(claim, "mixed", cells) is None
    assert published.check(published.CLAIMS[1], "get-user", cells) is None, "variants missing"


def test_a_failing_variant_is_not_ranked_against_a_claim() -> None:
    cells = grid(
        fastapi={1000: step(1000, 1400, 7000, 626)},
        fastapi_sync_def={1000: step(1000, 1800, 2400, 526)},
        fastapi_blocking={1000: step(1000, 280, 360, 939, errors=16)},
    )
    cells = {name.replace("sync:def", "sync-def"): steps for name, steps in cells.items()}
    (row,) = published.check(published.CLAIMS[1], "get-user", cells)["rows"]
    assert row["excluded"] == ["fastapi:blocking"]
    assert row["measured_best"] == row["claimed_best"] == "fastapi" and row["agrees"]


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
    # Python's own Ctrl-C handler: an earlier test's library may have replaced it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    finished = False
    try:
        with pytest.raises(KeyboardInterrupt), interrupts_deferred():
            # To this thread: a signal to the process may go to any thread not blocking it.
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)
            time.sleep(0.2)
            finished = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert finished, "the interrupt arrived only after the protected block"
