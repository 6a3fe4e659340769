"""The open model's arrival clock (loadtests/locust/arrivals.py), under gevent as inside
Locust, with users that take a fixed service time instead of sending HTTP: the schedule
is kept, arrivals no user is idle for are dropped and counted, and the lag is small."""

from __future__ import annotations

import itertools
import math
import random
import time

import gevent
import gevent.event
import pytest

from loadtests.locust.arrivals import Arrivals, ArrivalTimes
from loadtests.locust.recorder import Recorder
from loadtests.recording.histogram import Histogram
from loadtests.recording.wire import WindowMeta
from services.common.burn import burn


def _drive(
    rate: float, kind: str, users: int, service_s: float, seconds: float
) -> tuple[Arrivals, Histogram, list[float]]:
    arrivals = Arrivals()
    lag = Histogram()
    intended: list[float] = []

    def user() -> None:
        while True:
            start = arrivals.take()
            lag.record(round((time.time() - start) * 1e6))
            intended.append(start)
            gevent.sleep(service_s)

    crew = [gevent.spawn(user) for _ in range(users)]
    gevent.sleep(0.05)  # every user idle before the first arrival
    arrivals.start(rate, kind, window=1, seed=7)  # type: ignore[arg-type]
    gevent.sleep(seconds)
    arrivals.stop()
    gevent.killall(crew)
    assert arrivals.idle == [], "killed users leave no slot behind"
    return arrivals, lag, intended


@pytest.mark.parametrize("rate", [500, 2000])
@pytest.mark.alone
def test_poisson_arrivals_keep_their_schedule(rate) -> None:
    """At 2,000 arrivals a second (the issue's target for one process), with enough
    users: nothing dropped, the count within 5 standard deviations of Poisson, and the
    users start within 5 ms of the intended time 99% of the time."""
    seconds = 2.0
    arrivals, lag, _ = _drive(rate, "poisson", users=60, service_s=0.005, seconds=seconds)
    expected = rate * seconds
    assert arrivals.dropped[1] == 0
    assert abs(arrivals.sent[1] - expected) < 5 * math.sqrt(expected), arrivals.sent
    assert 0 <= arrivals.sent[1] - lag.count <= 5, "all but those in hand at the stop"
    assert lag.percentile(99.0) <= 5_000, lag.percentile(99.0)


@pytest.mark.alone
def test_arrivals_due_during_a_burst_of_responses_are_sent_on_time() -> None:
    """A service that answers in bursts: every 50 ms it releases everything it holds at
    once, and each response holds the loop for 0.3 ms, so a burst of about 100 takes
    30 ms in which the clock greenlet cannot run. The users finishing the burst take
    the arrivals that fall due meanwhile: the lag stays within one response's handling
    instead of the burst's length (a clock that alone handed out arrivals kept a p99
    of 33 ms here; the 10 ms asked leaves room for a loaded machine)."""
    arrivals = Arrivals()
    lag = Histogram()
    released = gevent.event.Event()

    def service() -> None:
        nonlocal released
        while True:
            gevent.sleep(0.05)
            burst, released = released, gevent.event.Event()
            burst.set()

    def user() -> None:
        while True:
            start = arrivals.take()
            lag.record(round((time.time() - start) * 1e6))
            released.wait()
            burn(0.0003)  # handling one response holds the loop
            arrivals.answered()

    crew = [gevent.spawn(user) for _ in range(300)]
    stalls = gevent.spawn(service)
    gevent.sleep(0.05)
    arrivals.start(2000, "poisson", window=1, seed=11)
    gevent.sleep(1.5)
    arrivals.stop()
    gevent.killall([*crew, stalls])
    assert arrivals.dropped[1] == 0 and lag.count > 2500
    assert lag.percentile(99.0) <= 10_000, lag.percentile(99.0)


@pytest.mark.parametrize("kind", ["poisson", "constant"])
def test_a_schedule_draws_its_times_in_order_from_its_seed(kind) -> None:
    """The same times whoever hands them out: Poisson gaps drawn one after another from
    the seed, or evenly spaced from a random phase."""
    schedule = ArrivalTimes(400.0, kind, window=1, rng=random.Random(5), now=100.0)
    times = [schedule.advance() for _ in range(5)]
    rng = random.Random(5)
    if kind == "poisson":
        expected = list(itertools.accumulate(rng.expovariate(400.0) for _ in range(5)))
        assert times == pytest.approx([100.0 + t for t in expected], abs=1e-9)
    else:
        origin = 100.0 + rng.random() / 400.0
        assert times == pytest.approx([origin + k / 400.0 for k in range(1, 6)], abs=1e-9)
    assert schedule.due > times[-1] and schedule.count == 6  # the first drawn at the start


def test_a_user_takes_no_arrival_of_a_stopped_clock() -> None:
    arrivals = Arrivals()
    arrivals.start(1000, "constant", window=1, seed=1)
    gevent.sleep(0.02)  # arrivals are due; nobody was idle: the clock dropped them
    arrivals.stop()
    waiting = gevent.spawn(arrivals.take)
    gevent.sleep(0.02)
    assert not waiting.ready(), "a stopped clock's arrivals are nobody's"
    waiting.kill()
    assert arrivals.sent == {} and arrivals.dropped[1] > 0


def test_a_dropped_arrival_is_reported_at_its_intended_time() -> None:
    reported: list[float] = []
    arrivals = Arrivals()
    arrivals.on_drop = lambda window, at: reported.append(at)
    begun = time.time()
    arrivals.start(200, "constant", window=1, seed=2)
    gevent.sleep(0.1)
    arrivals.stop()
    assert len(reported) == arrivals.dropped[1] >= 10
    gaps = [b - a for a, b in itertools.pairwise(reported)]
    assert all(g == pytest.approx(0.005, abs=1e-6) for g in gaps)  # epoch seconds: ~1e-7 apart
    assert begun < reported[0] < begun + 0.011  # one interval after a random phase


def test_a_clock_that_dies_leaves_no_arrivals_for_users_to_take() -> None:
    """An error in the clock (here in the drop count) ends its schedule too: users do
    not go on taking arrivals that no clock counts drops for."""

    def broken(window: int, at: float) -> None:
        raise RuntimeError("drop count failed")

    arrivals = Arrivals()
    arrivals.on_drop = broken
    arrivals.start(500, "constant", window=1, seed=4)
    gevent.sleep(0.02)
    waiting = gevent.spawn(arrivals.take)
    gevent.sleep(0.02)
    assert not waiting.ready()
    waiting.kill()


def test_constant_arrivals_are_evenly_spaced() -> None:
    _, _, intended = _drive(100, "constant", users=5, service_s=0.001, seconds=0.5)
    gaps = [b - a for a, b in itertools.pairwise(intended)]
    assert len(gaps) >= 45 and all(g == pytest.approx(0.01, abs=1e-6) for g in gaps)


@pytest.mark.alone
def test_arrivals_with_no_idle_user_are_dropped_and_counted() -> None:
    """Two users that each take 50 ms carry at most 40 requests a second: of 200 a
    second, about 80% find no idle user. They are counted, never queued behind the
    busy ones (which would be the closed model again)."""
    arrivals, lag, _ = _drive(200, "poisson", users=2, service_s=0.05, seconds=2.0)
    total = arrivals.sent[1] + arrivals.dropped[1]
    assert 300 < total < 500
    assert 0.7 < arrivals.dropped[1] / total < 0.9, (arrivals.sent, arrivals.dropped)
    assert lag.percentile(99.0) <= 5_000, "a request that is sent is sent on time"


def test_a_stopped_clock_hands_out_nothing() -> None:
    arrivals, _, _ = _drive(0, "poisson", users=3, service_s=0.001, seconds=0.2)
    assert arrivals.sent == {} and arrivals.dropped == {}


def _window() -> WindowMeta:
    return WindowMeta(
        window=3, step=0, users=100, block=1, position=1, variant="flask",
        switch_at=1000.0, start=1001.0, end=1005.0,
    )  # fmt: skip


def test_a_late_send_is_timed_from_its_intended_start() -> None:
    """Sent 200 ms after its intended time and answered in 10 ms: the service time is
    10 ms, the intended-time latency 210 ms, the lag 200 ms; a failure has a lag but no
    intended latency (the latencies are the successes')."""
    recorder = Recorder()
    recorder.open_window(_window())
    recorder.record("PATCH /users/{id}", "flask", 1002.2, 10.0, None, None, intended=1002.0)
    recorder.record("PATCH /users/{id}", "flask", 1002.0, 5.0, "http_503", None, intended=1002.0)
    recorder.drop(3, count=4)
    recorder.drop(3, at=1000.5)  # in the warm-up: not the window's
    recorder.drop(3, at=1004.0)
    tally = recorder.measured[3, "PATCH /users/{id}"]
    assert tally.ok.percentile(50.0) == pytest.approx(10_000, rel=0.001)
    assert tally.intended is not None and tally.lag is not None
    assert tally.intended.count == 1
    assert tally.intended.percentile(50.0) == pytest.approx(210_000, rel=0.001)
    assert tally.lag.count == 2 and tally.lag.max == pytest.approx(200_000, rel=0.001)
    assert recorder.dropped == {3: 5}


def test_an_open_window_holds_its_arrivals_and_counts_what_it_served() -> None:
    """The open model: a request that arrived inside the window and was answered 3 s
    after its end is in the window's latency (a backlog's slowest are not left out) but
    not in its throughput; one that arrived in the warm-up and completed inside is in the
    throughput only. The closed model keeps the completion rule for both."""
    recorder = Recorder()
    recorder.open_window(_window().model_copy(update={"arrivals": "poisson"}))
    name = "GET /users/{id}"
    recorder.record(name, "flask", 1004.5, 3_500.0, None, None, intended=1004.5)  # late
    recorder.record(name, "flask", 1000.9, 200.0, None, None, intended=1000.8)  # warm-up
    recorder.record(name, "flask", 1002.0, 10.0, None, None, intended=1002.0)
    recorder.record(name, "flask", 1002.0, 10.0, "http_503", None, intended=1002.0)
    tally = recorder.measured[3, name]
    assert tally.count == 3 and tally.ok.count == 2
    assert tally.intended is not None and tally.intended.max == pytest.approx(3_500_000, rel=0.001)
    assert recorder.served == {(3, name): 2}, "the warm-up's and the 10 ms success"
    closed = Recorder()
    closed.open_window(_window())
    closed.record(name, "flask", 1004.5, 3_500.0, None)
    closed.record(name, "flask", 1002.0, 10.0, None)
    assert closed.measured[3, name].count == 1 and closed.served == {}


def test_the_open_model_merges_exactly_across_processes() -> None:
    """Two workers' deltas (intended latency, lag, drops) add up in the master as if
    one process had recorded everything; a closed-model tally stays without them."""
    whole, master = Recorder(), Recorder()
    workers = [Recorder(), Recorder()]
    for recorder in (whole, *workers):
        recorder.open_window(_window())
    for i in range(40):
        for recorder in (whole, workers[i % 2]):
            recorder.record("GET /users/{id}", "flask", 1002.0 + i * 0.01, 3.0 + i, None,
                            None, intended=1002.0 + i * 0.01 - i * 0.001)  # fmt: skip
            recorder.drop(3)
    for name, worker in zip(("a", "b"), workers, strict=True):
        master.merge_delta(worker.take_delta(), name)
    ours, theirs = whole.measured[3, "GET /users/{id}"], master.measured[3, "GET /users/{id}"]
    assert ours.to_dict() == theirs.to_dict() and "intended" in theirs.to_dict()
    assert master.dropped == whole.dropped == {3: 40}
    assert master.served == whole.served and sum(whole.served.values()) == 40
    closed = Recorder()
    closed.open_window(_window())
    closed.record("GET /users/{id}", "flask", 1002.0, 3.0, None)
    assert "intended" not in closed.measured[3, "GET /users/{id}"].to_dict()


def test_a_window_opened_again_counts_from_its_second_opening_only() -> None:
    """Locust restarts the shape as the test starts, so the first window is announced
    twice, a second apart; a worker must not count it from the first announcement."""
    recorder = Recorder()
    first = _window()
    again = first.model_copy(update={"switch_at": 1001.0, "start": 1002.0, "end": 1006.0})
    recorder.open_window(first)
    recorder.open_window(again)
    recorder.record("GET /users/{id}", "flask", 1001.2, 10.0, None)  # before the second start
    recorder.record("GET /users/{id}", "flask", 1003.0, 10.0, None)
    assert recorder.measured[3, "GET /users/{id}"].count == 1
    assert recorder.recent == [again]


def _busy_crew(arrivals: Arrivals, users: int, service_s: float) -> list[gevent.Greenlet]:
    """Users that answer each arrival after ``service_s``, as ScenarioUser.expect does."""

    def user() -> None:
        while True:
            arrivals.take()
            gevent.sleep(service_s)
            arrivals.answered()

    return [gevent.spawn(user) for _ in range(users)]


def test_settling_waits_until_every_request_handed_out_is_answered() -> None:
    """A turn that ends with requests in flight: settle stops the clock and returns once
    the last is answered (within one service time), with nothing left out."""
    arrivals = Arrivals()
    crew = _busy_crew(arrivals, users=50, service_s=0.2)
    gevent.sleep(0.05)
    arrivals.start(200, "constant", window=1, seed=3)
    gevent.sleep(0.3)
    assert arrivals.in_flight > 20, "the backlog the next turn must not inherit"
    begun = time.time()
    left = arrivals.settle(5.0)
    waited = time.time() - begun
    sent = arrivals.sent[1]
    gevent.sleep(0.05)
    gevent.killall(crew)
    assert left == 0 and arrivals.in_flight == 0
    assert 0.1 < waited < 0.3, waited
    assert arrivals.sent[1] == sent, "no arrival after the clock stopped"


def test_settling_gives_up_at_its_limit_and_counts_what_is_still_out() -> None:
    arrivals = Arrivals()
    crew = _busy_crew(arrivals, users=10, service_s=1.0)
    gevent.sleep(0.05)
    arrivals.start(100, "constant", window=1, seed=3)
    gevent.sleep(0.1)
    begun = time.time()
    left = arrivals.settle(0.2)
    waited = time.time() - begun
    gevent.killall(crew)
    assert left == arrivals.in_flight > 0
    assert 0.2 <= waited < 0.3, waited
    arrivals.reset()
    assert arrivals.in_flight == 0, "a new test starts with nothing in flight"


@pytest.mark.parametrize(
    ("arrivals", "now", "phase"),
    [
        (None, 1000.5, "warm-up"),
        (None, 1003.0, "measuring"),
        (None, 1005.5, "measuring"),  # a closed turn's tail (wrk stopping): no backlog wait
        ("poisson", 1003.0, "measuring"),
        ("poisson", 1005.5, "answering its backlog"),
    ],
)
def test_the_progress_line_says_when_a_turn_waits_for_its_backlog(arrivals, now, phase) -> None:
    window = _window().model_copy(update={"arrivals": arrivals})
    assert window.phase(now) == phase
