"""Faults injected into real runs (``--fault``): the database frozen or restarted in the
middle of a step, under load, while the runner records the first failure, the recovery
and the requests lost; and the fault's arithmetic and bad input on their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loadtests.errors import SuiteError
from loadtests.plan import StepPlan
from loadtests.report import faults as faults_report
from loadtests.results import store
from loadtests.results.models import FaultPlan, Plan, ScenarioResults, TimePoint, VariantRun
from loadtests.run.extras import faults
from tests.helpers import cli_env, one_line_error, only_run_dir, run_cli

FREEZE = FaultPlan(kind="db-freeze", step=2, seconds=3, description="test")
PLAN = StepPlan((10, 20), 2, 6)


def _points(errors: list[int], start: int = 1000, per_second: int = 50) -> list[TimePoint]:
    latency = {"p50_ms": 1, "p95_ms": 1, "p99_ms": 1}
    return [
        TimePoint(t=i, epoch=start + i, users=10, requests=per_second, errors=e, **latency)
        for i, e in enumerate(errors)
    ]


def test_outcome_counts_from_the_fault_to_three_clean_seconds() -> None:
    # Fault from second 1002 to 1005; failures in 1003-1006, clean from 1007.
    points = _points([0, 0, 0, 5, 50, 50, 20, 0, 0, 0, 0])
    found = faults.outcome(FREEZE, 1002.4, 1005.2, points, users=20)
    assert found.first_error_after_s == 1  # second 1003, counted from 1002
    assert found.recovered_after_s == 2  # 1007, counted from 1005
    assert found.failed_requests == 5 + 50 + 50 + 20
    assert found.successful_requests == (50 + 45 + 0 + 0 + 30)
    assert found.unavailable_s == 2.8


def test_outcome_without_recovery_or_without_a_fault() -> None:
    never = faults.outcome(FREEZE, 1002.0, 1005.0, _points([0, 0, 0, 9, 9, 9, 9, 9]), users=20)
    assert never.recovered_after_s is None and never.failed_requests == 45
    # A clean second between failures is not a recovery: three in a row are.
    flaky = faults.outcome(FREEZE, 1002.0, 1003.0, _points([0, 0, 0, 9, 0, 9, 0, 0, 0, 0]), 20)
    assert flaky.recovered_after_s == 3
    skipped = faults.outcome(FREEZE, None, None, _points([0, 0]), users=20, note="not injected")
    assert skipped.first_error_after_s is None and skipped.note == "not injected"
    assert faults_report.summary(skipped).endswith("not injected")


def test_the_headline_names_who_recovered_faster_and_what_each_lost() -> None:
    def run(variant: str, recovered: int | None, failed: int) -> VariantRun:
        fault = faults.outcome(FREEZE, 1002.0, 1005.0, [], users=20).model_copy(
            update={"recovered_after_s": recovered, "failed_requests": failed}
        )
        return VariantRun(variant=variant, position=1, status="complete", fault=fault)

    plan = Plan(steps=[10, 20], warmup_seconds=2, step_seconds=6)
    scenario = ScenarioResults(description="d", user_class="Mixed", variants=["flask", "fastapi"],
                               plan=plan, runs=[run("flask", 1, 40), run("fastapi", 4, 90)])  # fmt: skip
    labels = {"flask": "Flask", "fastapi": "FastAPI"}
    assert faults_report.headline(FREEZE, scenario, labels) == (
        "With the database unavailable (db-freeze, 3 s at step 2, 20 users): Flask recovered "
        "1 s after the database was back and 40 of its requests failed; FastAPI recovered 4 s "
        "after the database was back and 90 of its requests failed. Flask recovered fastest."
    )
    scenario.runs[1] = run("fastapi", 2, 90)
    assert faults_report.headline(FREEZE, scenario, labels).endswith(
        "They recovered equally fast, as far as whole seconds can tell."
    )
    scenario.runs[1] = run("fastapi", None, 300)
    line = faults_report.headline(FREEZE, scenario, labels) or ""
    assert "FastAPI did not recover within the run and 300 of its requests failed." in line
    assert line.endswith("Flask recovered fastest.")


def test_the_fault_is_centred_in_the_window() -> None:
    assert faults.starts_at(FREEZE, 100.0, 110.0) == 103.5
    long = FREEZE.model_copy(update={"seconds": 30})
    assert faults.starts_at(long, 100.0, 110.0) == 100.0


@pytest.mark.parametrize(
    ("text", "seconds", "message"),
    [
        ("db-melt@1", None, "unknown fault 'db-melt' in --fault (known: db-freeze, db-restart)"),
        ("db-freeze", None, "--fault must be KIND@STEP, e.g. db-freeze@2, got 'db-freeze'"),
        ("db-freeze@3", None, "--fault names step 3, but the run has steps 1 to 2"),
        ("db-freeze@0", None, "--fault names step 0, but the run has steps 1 to 2"),
        ("db-freeze@1", 0.5, "--fault-seconds must be between 1 and 120, got 0.5"),
        ("db-freeze@1", float("nan"), "--fault-seconds must be between 1 and 120, got nan"),
        (None, 5.0, "--fault-seconds needs --fault"),
    ],
)
def test_bad_faults_are_refused(text: str | None, seconds: float | None, message: str) -> None:
    with pytest.raises(SuiteError, match="^" + re.escape(message) + "$"):
        faults.parse(text, seconds, [PLAN])


def test_bad_fault_on_the_command_line_is_one_line(state_dir: Path) -> None:
    env = cli_env(state_dir)
    line = one_line_error(run_cli("run", "--fault", "db-freeze@9", "--steps", "10", env=env))
    assert line == "error: --fault names step 9, but the run has steps 1 to 1"
    line = one_line_error(run_cli("run", "--audit", "--scenario", "read,get-user", env=env))
    assert line == "error: --audit needs a scenario with writes (select-update, write, mixed)"
    external = cli_env(state_dir, DATABASE_URL="postgresql://u@127.0.0.1:9/x")
    line = one_line_error(run_cli("run", "--fault", "db-freeze@1", env=external))
    assert "--fault needs the embedded PostgreSQL" in line


def _run(out: Path, state_dir: Path, *args: str) -> dict:
    result = run_cli("run", "--blocks", "1", "--cross-check", "off", "--no-ceiling",
                     "--out", str(out), *args,
                     env=cli_env(state_dir), timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(out)
    return {"dir": run_dir, "data": store.load(run_dir), "stdout": result.stdout}


def page_text(run: dict) -> str:
    return (run["dir"] / "index.html").read_text()


@pytest.mark.slow
@pytest.mark.alone
def test_a_frozen_database_mid_step_fails_fast_and_recovers(seeded, state_dir, tmp_path) -> None:
    # A one-second deadline, so that the frozen requests fail within the short window.
    # FastAPI alone: the deadline itself is tested on every variant in test_deadline.py.
    run = _run(tmp_path, state_dir, "--scenario", "mixed", "--services", "fastapi",
               "--steps", "10,20", "--step-seconds", "6", "--warmup-seconds", "2",
               "--request-deadline", "1", "--fault", "db-freeze@1", "--fault-seconds", "3",
               "--audit")  # fmt: skip
    data = run["data"]
    assert data.run.status == "complete" and data.run.fault and data.run.fault.kind == "db-freeze"
    for outcome in data.scenarios["mixed"].runs:
        fault = outcome.fault
        assert fault is not None and fault.started_at is not None, outcome.variant
        assert fault.users == 10 and 2.9 <= (fault.unavailable_s or 0) <= 4
        # The first 503s come within about a second of the freeze.
        assert fault.first_error_after_s is not None and fault.first_error_after_s <= 2, fault
        assert fault.recovered_after_s is not None and fault.recovered_after_s <= 2, fault
        assert fault.failed_requests > 0 and not outcome.service_failures, outcome.variant
        # The fault's window is kept out of the step: the step's own windows recovered.
        assert outcome.steps[0].failures.rate < 0.01, outcome.steps[0].failures
    # Under the fault: no acknowledged write lost, nothing duplicated or unexpected.
    audit = data.scenarios["mixed"].audit
    assert audit is not None and audit.ok and audit.complete, audit
    assert all(c.acknowledged > 0 for c in audit.writes.values()), audit.writes
    assert "0 lost, 0 duplicated, 0 unexpected" in run["stdout"]
    assert "Audit: all " in page_text(run)
    assert "fault db-freeze (3 s at step 1): first failure in second +" in run["stdout"]
    page = (run["dir"] / "index.html").read_text()
    assert "The fault: db-freeze for 3 s at step 1" in page
    assert "With the database unavailable (db-freeze, 3 s at step 1, 10 users)" in page
    assert '"s0-fault"' in page
    assert "mixed, 10 users: the injected fault (db-freeze, 3 s) ran in a block of its own" in page


@pytest.mark.slow
@pytest.mark.alone
def test_a_restart_then_1000_users(embedded, seeded, state_dir, tmp_path) -> None:
    """The database restarted under load comes back on its port and both services
    reconnect; then 1,000 users: slow answers or 503s within the deadline plus the pool
    timeout, no crash, and the services' memory recorded."""
    before = seeded.embedded
    run = _run(tmp_path, state_dir, "--scenario", "select-update", "--services", "flask,fastapi",
               "--steps", "10,1000", "--step-seconds", "6", "--warmup-seconds", "2",
               "--fault", "db-restart@1", "--fault-seconds", "2")  # fmt: skip
    data = run["data"]
    assert data.run.status == "complete", data.run.error
    for outcome in data.scenarios["select-update"].runs:
        fault = outcome.fault
        assert fault is not None and fault.started_at is not None and fault.note is None, fault
        assert fault.failed_requests > 0 and fault.recovered_after_s is not None, fault
        assert fault.recovered_after_s <= 2, fault
        assert not outcome.service_failures, (outcome.variant, outcome.service_failures)
        overload = outcome.steps[-1]
        assert overload.users == 1000 and overload.successes > 0, outcome.variant
        failed = overload.failures.latency_ms
        slowest = max(overload.latency_ms.max, failed.max if failed else 0.0)
        assert slowest <= (5 + 10) * 1000, (outcome.variant, slowest)  # deadline + pool timeout
        assert set(overload.failures.by_kind) <= {"http_503"}, overload.failures.by_kind
        assert all(s.cpu and s.cpu.service_memory_mib for s in outcome.steps), outcome.variant
        print(f"{outcome.variant} at 1,000 users: {overload.throughput_rps:.0f} req/s, p99 "
              f"{overload.latency_ms.p99:.0f} ms, slowest {slowest:.0f} ms, errors "
              f"{overload.failures.by_kind}, {overload.cpu.service_memory_mib} MiB")  # fmt: skip
    after = embedded.status()
    assert after is not None and after.port == before.port and after.pid != before.pid
    assert "MiB" in run["stdout"]
