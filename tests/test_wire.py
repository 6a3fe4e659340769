"""The runner <-> Locust contract (loadtests/recording/wire.py, schedule.py) and the
extras' interface: a recorder's document survives the trip, a bad file is one line, the
schedule interleaves every variant in every block, and the loop hands every extra the
moments it asks for."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
from collections import Counter

import pytest

from loadtests.errors import SuiteError
from loadtests.locust.recorder import Recorder
from loadtests.plan import PROFILES, PlanError, StepPlan
from loadtests.recording import schedule, wire
from loadtests.recording.wire import EndpointCount, LocustCounts, WindowMeta
from loadtests.run import extras, measure
from loadtests.run.extras import audit, ceiling, crosscheck, faults
from loadtests.run.state import RunOptions
from loadtests.variants import BUILTIN

HOSTS = {"flask": "http://a", "fastapi": "http://b", "fastapi:fair": "http://c"}


def _window(window: int, variant: str, switch: float) -> WindowMeta:
    return WindowMeta(
        window=window, step=0, users=10, block=window + 1, position=1, variant=variant,
        switch_at=switch, start=switch + 2, end=switch + 7,
    )  # fmt: skip


def _recorded() -> wire.Recorded:
    recorder = Recorder()
    first, second = _window(0, "flask", 100.0), _window(1, "fastapi", 107.0)
    recorder.open_window(first)
    for index in range(50):  # inside flask's window
        recorder.record("GET /users/{id}", "flask", 102.0 + index / 10, 2.0 + index, None)
    recorder.record("GET /users/{id}", "flask", 101.0, 30.0, "http_503")  # warm-up: no window
    recorder.open_window(second)
    # Sent to flask before the switch, answered in fastapi's window: in flight at the
    # switch, so in no window (but in flask's series and the totals).
    recorder.record("GET /users/{id}", "flask", 106.9, 2500.0, None)
    recorder.record("GET /users/{id}", "fastapi", 110.0, 5.0, None)
    first.ended_at, second.ended_at = 107.0, 114.0
    counts = LocustCounts(
        requests=53, failures=1,
        per_endpoint={"GET /users/{id}": EndpointCount(requests=53, failures=1)},
        cpu_warning=False,
    )  # fmt: skip
    return recorder.snapshot(True, {0: first, 1: second}, counts)


def test_a_recorded_document_survives_the_trip(tmp_path) -> None:
    path = tmp_path / "locust.json"
    wire.write(path, _recorded())
    back = wire.read(path)
    assert back.complete and back.windows[0].variant == "flask"
    tally = back.measured[0]["GET /users/{id}"]
    assert tally["ok"]["count"] == 50 and tally["errors"] == {}, "the warm-up's 503 is outside"
    assert back.measured[1]["GET /users/{id}"]["ok"]["count"] == 1, "the in-flight one is not"
    flask = back.series["flask"]
    assert sum(t["ok"]["count"] + t["failed"]["count"] for t in flask.values()) == 52
    assert sum(t["ok"]["count"] for t in back.series["fastapi"].values()) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "is not a statistics file of this suite version"),
        ('{"complete": true}', "(windows: Field required)"),
        ("[]", "is not a statistics file of this suite version"),
    ],
)
def test_a_bad_statistics_file_is_one_line(tmp_path, text, expected) -> None:
    path = tmp_path / "locust.json"
    path.write_text(text)
    with pytest.raises(SuiteError) as caught:
        wire.read(path)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_changed_field_names_where(tmp_path) -> None:
    data = json.loads(_recorded().model_dump_json())
    data["windows"]["0"]["start"] = "soon"
    path = tmp_path / "locust.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SuiteError, match=r"windows\.0\.start"):
        wire.read(path)


def test_a_missing_statistics_file_is_one_line(tmp_path) -> None:
    with pytest.raises(SuiteError, match="no statistics file"):
        wire.read(tmp_path / "absent.json")


def test_every_block_gives_every_variant_one_window() -> None:
    plan = StepPlan((10, 50), warmup_s=4, measure_s=5, blocks=6, switch_s=2)
    turns = schedule.build(plan, HOSTS, seed=7)
    assert len(turns.segments) == 2 * 6 * 3
    for step in (0, 1):
        for block in range(1, 7):
            mine = [s.variant for s in turns.segments if s.step == step and s.block == block]
            assert sorted(mine) == sorted(HOSTS), (step, block)
    firsts = [
        next(s.variant for s in turns.segments if s.step == 0 and s.block == b) for b in range(1, 7)
    ]
    assert all(a != b for a, b in itertools.pairwise(firsts)), firsts
    assert len(set(firsts)) > 1, "the order changes from block to block"


def test_windows_follow_each_other_with_their_warm_ups() -> None:
    plan = StepPlan((10, 200), warmup_s=4, measure_s=5, blocks=2, switch_s=1)
    turns = schedule.build(plan, HOSTS, seed=1)
    for before, after in itertools.pairwise(turns.segments):
        assert after.switch_s == before.end_s
    step_starts = {s.step: s for s in reversed(turns.segments)}
    assert all(s.start_s - s.switch_s == 4 for s in step_starts.values()), "a step ramps 4 s"
    warmups = Counter(
        (s.users, round(s.start_s - s.switch_s, 3))
        for s in turns.segments
        if s not in step_starts.values()
    )
    assert warmups == {(10, 1.1): 5, (200, 3.0): 5}, "1 s + 1 s per 100 users"
    assert turns.total_s == pytest.approx(plan.total_s(3))
    assert StepPlan((1000,), 4, 5).switch_for(1000) == 5.0, "at most 5 s"


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    plan = StepPlan((10,), warmup_s=4, measure_s=5, blocks=8)
    one = [s.variant for s in schedule.build(plan, HOSTS, seed=3).segments]
    assert one == [s.variant for s in schedule.build(plan, HOSTS, seed=3).segments]
    assert one != [s.variant for s in schedule.build(plan, HOSTS, seed=4).segments]


def test_no_variant_is_favoured_by_its_position() -> None:
    """Over many blocks each variant takes each position about equally often."""
    orders = list(schedule.block_orders([list(HOSTS)] * 3000, random.Random(5)))
    for position in range(3):
        counts = Counter(order[position] for order in orders)
        assert all(900 < n < 1100 for n in counts.values()), (position, counts)


def test_a_fault_gets_a_block_of_its_own_before_the_steps_blocks() -> None:
    plan = StepPlan((10, 50), warmup_s=4, measure_s=5, blocks=2)
    turns = schedule.build(plan, HOSTS, seed=1, fault=(2, 22.0))
    at_step = [s for s in turns.segments if s.step == 1]
    assert [s.block for s in at_step[:3]] == [schedule.FAULT_BLOCK] * 3
    assert all(s.end_s - s.start_s == pytest.approx(22.0) for s in at_step[:3])
    assert not any(s.block == schedule.FAULT_BLOCK for s in turns.segments if s.step == 0)


def test_interleaved_steps_take_turns_within_each_block() -> None:
    """Capacity's confirmation: a block holds every variant at every step, in one random
    order, so that no step is also a moment of the run; Locust writes its tallies at each
    block's first turn, never inside one."""
    plan = StepPlan((800, 900, 1000), 4, 5, blocks=4, model="open", interleaved=True)
    turns = schedule.build(plan, HOSTS, seed=11)
    assert len(turns.segments) == 3 * 4 * 3
    blocks = [s.block for s in turns.segments]
    assert blocks == sorted(blocks), "block after block"
    for block in range(1, 5):
        mine = [(s.step, s.variant) for s in turns.segments if s.block == block]
        assert sorted(mine) == sorted(itertools.product(range(3), HOSTS)), block
        assert [s.position for s in turns.segments if s.block == block] == list(range(1, 10))
    assert [s.window for s in turns.segments if s.checkpoint] == [9, 18, 27]
    first, *rest = turns.segments
    assert first.start_s - first.switch_s == 4
    assert all(s.start_s - s.switch_s == plan.switch_for(plan.steps[s.step]) for s in rest)
    assert turns.total_s <= plan.total_s(3) <= turns.total_s + plan.switch_max_s
    # Where the steps' switch warm-ups differ, the plan counts the shortest one out: the
    # first turn's, whichever step it is, warms up `warmup_s` instead.
    low = StepPlan((100, 200, 300), 4, 5, blocks=2, model="open", interleaved=True)
    drawn = schedule.build(low, HOSTS, seed=3)
    first_switch = low.switch_for(low.steps[drawn.segments[0].step])
    assert low.total_s(3) - drawn.total_s == pytest.approx(first_switch - low.switch_for(100))
    # Over many draws every step comes first about equally often, and a step's turns are
    # not kept together: the run's early minutes belong to no rate.
    leading = Counter(
        schedule.build(plan, HOSTS, seed=seed).segments[0].step for seed in range(300)
    )
    assert all(70 < n < 130 for n in leading.values()), leading
    steps = [s.step for s in turns.segments]
    assert steps != sorted(steps)


def test_by_step_the_tallies_are_written_as_each_step_begins() -> None:
    """At every step's first turn but the run's first, a fault's turn included."""
    plan = StepPlan((10, 50, 100), 4, 5, blocks=2)
    for fault in (None, (2, 10.0)):
        turns = schedule.build(plan, HOSTS, seed=2, fault=fault)
        changes = [
            after.window
            for before, after in itertools.pairwise(turns.segments)
            if after.step != before.step
        ]
        assert [s.window for s in turns.segments if s.checkpoint] == changes, fault
        assert len(changes) == 2
    assert turns.segments[changes[0]].block == schedule.FAULT_BLOCK


def test_the_time_series_follows_an_interleaved_turn_down_as_well_as_up() -> None:
    """Each second carries the level of the variant's latest turn begun by then."""
    recorder, metas = Recorder(), []
    for window, (rate, switch) in enumerate([(1000, 100.0), (800, 110.0), (900, 120.0)]):
        meta = WindowMeta(
            window=window, step=window, users=rate, block=1, position=window + 1,
            variant="flask", switch_at=switch, start=switch + 2, end=switch + 7,
        )  # fmt: skip
        recorder.open_window(meta)
        recorder.record("GET /users/{id}", "flask", switch + 3, 5.0, None)
        meta.ended_at = meta.end
        metas.append(meta)
    counts = LocustCounts(
        requests=3, failures=0,
        per_endpoint={"GET /users/{id}": EndpointCount(requests=3, failures=0)}, cpu_warning=False,
    )  # fmt: skip
    recorded = recorder.snapshot(True, {m.window: m for m in metas}, counts)
    points = measure.timeseries(recorded.series["flask"], metas, 100)
    assert [(p.t, p.users) for p in points] == [(3, 1000), (13, 800), (23, 900)]


def test_only_open_steps_interleave_and_they_share_their_blocks() -> None:
    with pytest.raises(PlanError, match="only the open model"):
        StepPlan((10, 50), 4, 5, blocks=2, interleaved=True)
    with pytest.raises(PlanError, match="no separate top blocks"):
        StepPlan((10, 50), 4, 5, blocks=2, top_blocks=4, model="open", interleaved=True)


def test_bad_blocks_and_switch_are_refused() -> None:
    with pytest.raises(PlanError, match="blocks must be between 1 and 50"):
        StepPlan((10,), 4, 5, blocks=0)
    with pytest.raises(PlanError, match=r"switch seconds must be between 0\.5"):
        StepPlan((10,), 4, 5, switch_s=0.1)


def _options(**changes: object) -> RunOptions:
    profile = PROFILES["smoke"]
    return RunOptions(scenarios=profile.scenarios, variants=dict(BUILTIN), **changes)


def test_only_the_extras_a_run_asks_for_are_enabled() -> None:
    kinds = [type(e) for e in extras.enabled(_options(ceiling=False))]
    assert kinds == [ceiling.DatabaseCeiling], "the ceiling says itself why it was skipped"
    fault = faults.parse("db-freeze@1", 2, [PROFILES["smoke"].scenarios[0].plan])
    every = extras.enabled(_options(fault=fault, audit=True, cross_check=20))
    assert [type(e) for e in every] == [
        ceiling.DatabaseCeiling, faults.Fault, audit.Audit, crosscheck.CrossCheckExtra,
    ]  # fmt: skip
    assert all(e.announce() for e in every[1:]), "each optional extra says what it will do"
    assert every[1].schedule_changes() == {"fault": (1, 2 + 2 * faults.FAULT_MARGIN_S)}
    if crosscheck.find_wrk() is not None:
        assert every[3].schedule_changes() == {"cross_blocks": 20}


def test_wrk_turns_come_in_the_first_blocks_of_the_highest_step_only() -> None:
    plan = StepPlan((10, 50), 4, 5, blocks=3, top_blocks=4)
    hosts = {"flask": "http://a", "fastapi": "http://b", "fastapi:fair": "http://c"}
    turns = schedule.build(plan, hosts, 7, cross_blocks=2, connections="close")
    assert turns.connections == "close"
    wrk = [s for s in turns.segments if s.generator == "wrk"]
    assert {(s.users, s.block) for s in wrk} == {(50, 1), (50, 2)}
    for block in (1, 2):
        mine = [s for s in turns.segments if s.users == 50 and s.block == block]
        assert sorted((s.variant, s.generator) for s in mine) == sorted(
            (v, g) for v in hosts for g in ("locust", "wrk")
        ), "every variant once under each generator"
        assert sorted(s.position for s in mine if s.generator == "wrk") == [1, 2, 3]
    assert all(s.tail_s == schedule.WRK_TAIL_S for s in wrk)
    assert not any(s.tail_s for s in turns.segments if s.generator == "locust")
    for before, after in itertools.pairwise(turns.segments):
        assert after.switch_s == pytest.approx(before.end_s + before.tail_s), "no overlap"
    # More wrk blocks than the step has: every block of it, no more.
    every = schedule.build(plan, hosts, 7, cross_blocks=9)
    assert {s.block for s in every.segments if s.generator == "wrk"} == {1, 2, 3, 4}


def test_every_window_reaches_every_listener() -> None:
    heard: list[tuple[str, int]] = []

    class Listening(extras.Extra):
        def __init__(self, name: str) -> None:
            self.name = name

        @contextlib.contextmanager
        def around_scenario(self, run, plan, outcomes):
            yield lambda window: heard.append((self.name, window.window))

    every = [Listening("a"), extras.Extra(), Listening("b")]
    with extras.around_scenario(every, None, None, {}) as on_window:
        on_window(_window(3, "flask", 0.0))
    assert heard == [("a", 3), ("b", 3)]
