"""The Locust -> runner hand-off (loadtests/recording/wire.py) and the extras' interface:
a recorder's document survives the trip, a bad file is one line, and the loop hands every
extra the moments it asks for."""

from __future__ import annotations

import contextlib
import json

import pytest

from loadtests.errors import SuiteError
from loadtests.locust.recorder import Recorder
from loadtests.plan import PROFILES
from loadtests.recording import wire
from loadtests.recording.wire import EndpointCount, LocustCounts, StepMeta
from loadtests.run import extras
from loadtests.run.extras import audit, ceiling, crosscheck, faults
from loadtests.run.state import RunOptions
from loadtests.variants import BUILTIN


def _recorded() -> wire.Recorded:
    recorder = Recorder()
    recorder.open_window(0, 100.0, 110.0)
    for index in range(50):
        recorder.record("GET /users/{id}", 100.0 + index / 10, 2.0 + index, None)
    recorder.record("GET /users/{id}", 105.0, 30.0, "http_503")
    steps = {0: StepMeta(users=10, started_at=96.0, window=(100.0, 110.0), ended_at=110.0)}
    counts = LocustCounts(
        requests=51, failures=1,
        per_endpoint={"GET /users/{id}": EndpointCount(requests=51, failures=1)},
        cpu_warning=False,
    )  # fmt: skip
    return recorder.snapshot(complete=True, steps=steps, locust=counts)


def test_a_recorded_document_survives_the_trip(tmp_path) -> None:
    path = tmp_path / "locust.json"
    wire.write(path, _recorded())
    back = wire.read(path)
    assert back.complete and back.steps[0].window == (100.0, 110.0)
    tally = back.measured[0]["GET /users/{id}"]
    assert tally["ok"]["count"] == 50 and tally["errors"] == {"http_503": 1}
    assert sum(t["ok"]["count"] + t["failed"]["count"] for t in back.series.values()) == 51


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "is not a statistics file of this suite version"),
        ('{"complete": true}', "(steps: Field required)"),
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
    data["steps"]["0"]["window"] = "soon"
    path = tmp_path / "locust.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SuiteError, match=r"steps\.0\.window"):
        wire.read(path)


def test_a_missing_statistics_file_is_one_line(tmp_path) -> None:
    with pytest.raises(SuiteError, match="Locust wrote no statistics"):
        wire.read(tmp_path / "absent.json")


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


def test_every_window_reaches_every_listener() -> None:
    heard: list[tuple[str, int]] = []

    class Listening(extras.Extra):
        def __init__(self, name: str) -> None:
            self.name = name

        @contextlib.contextmanager
        def around_variant(self, run, plan, outcome):
            yield lambda step, start, end: heard.append((self.name, step))

    with extras.around_variant(
        [Listening("a"), extras.Extra(), Listening("b")], None, None, None
    ) as on_window:
        on_window(1, 0.0, 1.0)
    assert heard == [("a", 1), ("b", 1)]
