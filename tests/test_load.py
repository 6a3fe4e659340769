"""`python -m loadtests run` and `ui`: real Locust runs against real services."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from loadtests.infra.ports import free_port
from loadtests.plan import StepPlan
from loadtests.results import store
from loadtests.run import generator
from tests.conftest import SMALL_SEED
from tests.helpers import PROJECT_ROOT, cli_env, one_line_error, only_run_dir, run_cli

TINY = ["--steps", "5,10", "--step-seconds", "4", "--warmup-seconds", "1", "--blocks", "1",
        "--cross-check", "off"]  # fmt: skip


def _run(state_dir: Path, out: Path, *args: str, timeout: float = 240):
    return run_cli("run", *TINY, "--out", str(out), *args, env=cli_env(state_dir), timeout=timeout)


def _locust_csv_total(run_dir: Path, tag: str) -> int:
    with (run_dir / "locust" / f"{tag}_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    return int(rows["Aggregated"]["Request Count"])


@pytest.fixture(scope="module")
def smoke_run(seeded, state_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = _run(state_dir, out, "--scenario", "select-update", "--services", "flask,fastapi")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "select-update" in result.stdout and "Flask" in result.stdout and "FastAPI" in result.stdout
    )
    return only_run_dir(out)


def test_smoke_run_results_validate_and_add_up(smoke_run: Path) -> None:
    data = store.load(smoke_run)  # validates against the typed models
    assert data.run.status == "complete"
    assert data.database.seed.spec["users"] == SMALL_SEED.users
    assert data.cpu_layout.note
    scenario = data.scenarios["select-update"]
    assert [run.variant for run in scenario.runs] != [], "every variant ran"
    assert {run.variant for run in scenario.runs} == {"flask", "fastapi"}
    for outcome in scenario.runs:
        name = outcome.variant
        assert outcome.status == "complete", (name, outcome.error)
        assert [step.users for step in outcome.steps] == [5, 10]
        for step in outcome.steps:
            latency = step.latency_ms
            assert step.successes > 0 and step.failures.count == 0, (name, step)
            assert step.requests == step.successes + step.failures.count
            order = [latency.min, latency.p50, latency.p90, latency.p95, latency.p99,
                     latency.p99_9, latency.max]  # fmt: skip
            assert order == sorted(order), (name, latency)
            assert step.throughput_rps == pytest.approx(
                step.successes / step.window.seconds, rel=1e-3
            )
            assert step.endpoints["PATCH /users/{id}"].requests == step.requests
            assert step.cpu is not None and step.cpu.service_percent > 0
        assert sum(s.requests for s in outcome.steps) < outcome.recorded.requests, (
            "warm-ups are excluded from the steps"
        )
        assert outcome.statements.per_request["UPDATE"] == pytest.approx(1.0, abs=0.02)
        positions = [block.position for step in outcome.steps for block in step.blocks]
        assert len(positions) == 2 and set(positions) <= {1, 2}, positions
    # The suite's own record of every response equals what Locust counted, and splits
    # exactly between the variants it went to.
    assert scenario.recorded.requests == scenario.locust_counts.requests
    assert scenario.recorded.requests == _locust_csv_total(smoke_run, "select-update")
    assert sum(run.recorded.requests for run in scenario.runs) == scenario.recorded.requests
    assert (smoke_run / scenario.locust.html).stat().st_size > 10_000
    assert scenario.ceiling is not None and scenario.ceiling.tps > 100, scenario.ceiling
    assert scenario.ceiling.clients == 20 and scenario.ceiling.pinned
    assert data.run.order_seed is not None and scenario.design == "blocks"
    assert data.database.connections.needed == 40 <= data.database.connections.allowed


def test_latency_components_add_up_to_what_the_client_measured(smoke_run: Path) -> None:
    """queue + app (= pool + db + orm + the application's own code) is the client's mean,
    for every step of both services, and every successful response was timed."""
    for outcome in store.load(smoke_run).scenarios["select-update"].runs:
        for step in outcome.steps:
            timing = step.attribution
            assert timing is not None and timing.mean is not None, outcome.variant
            assert timing.timed == step.successes and timing.untimed == 0
            mean = timing.mean
            parts = mean.pool + mean.db + mean.orm + mean.other
            assert parts == pytest.approx(mean.app, rel=1e-3)
            assert mean.total == pytest.approx(step.latency_ms.mean, rel=0.05), (
                outcome.variant,
                step.users,
            )
            assert mean.db > 0 and mean.orm > 0, "the ORM modes report both"
            assert timing.tail is not None and timing.tail.total >= mean.total
            assert 0 < timing.tail_requests <= 0.05 * step.successes
            assert set(timing.histograms) == {"queue", "app", "pool", "db", "orm"}
        database_time = outcome.database_time
        assert database_time.server_ms_per_request > 0
        assert database_time.driver_ms_per_request > database_time.server_ms_per_request
        assert database_time.statements["UPDATE"].calls >= database_time.requests * 0.95


def test_the_runner_never_imports_locust() -> None:
    """Locust monkey-patches its process with gevent: the runner must stay out of it."""
    code = (
        "import sys, loadtests.cli, loadtests.run.runner, loadtests.commands.run;"
        "bad = [m for m in sys.modules if m.startswith(('loadtests.locust', 'locust', 'gevent'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_two_locust_processes_merge_to_the_same_count(seeded, state_dir, tmp_path) -> None:
    result = _run(state_dir, tmp_path, "--services", "fastapi", "--scenario", "mixed",
                  "--workers", "2", "--audit", "--no-ceiling")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run_dir(tmp_path)
    scenario = store.load(run_dir).scenarios["mixed"]
    (outcome,) = scenario.runs
    # Each Locust process kept its own ledger of the writes; the audit read them all and
    # found every write Locust counted as a success, and nothing else.
    ledgers = list((run_dir / "ledger").glob("*/ledger-*.jsonl"))
    assert len(ledgers) == 3, "the master's (no writes) and each worker's"
    assert sum(path.stat().st_size > 1000 for path in ledgers) == 2
    audit = scenario.audit
    assert audit is not None and audit.ok and audit.complete, audit
    assert set(audit.variants) == {"fastapi"}, "every write names the variant it went to"
    for kind in ("POST /orders", "PATCH /users/{id}"):
        successes = sum(step.endpoints[kind].successes for step in outcome.steps)
        assert audit.writes[kind].acknowledged >= successes > 0, kind
    assert "0 lost, 0 duplicated, 0 unexpected" in result.stdout
    recorded = scenario.recorded
    assert len(recorded.per_worker) == 2, recorded.per_worker
    assert all(count > 0 for count in recorded.per_worker.values())
    assert sum(recorded.per_worker.values()) == recorded.requests == outcome.recorded.requests
    assert (
        recorded.requests == scenario.locust_counts.requests == _locust_csv_total(run_dir, "mixed")
    )
    assert recorded.per_endpoint == {
        name: counts.requests for name, counts in scenario.locust_counts.per_endpoint.items()
    }
    endpoints = outcome.steps[-1].endpoints
    assert {"GET /users/{id}", "GET /orders/{id}", "PATCH /users/{id}", "POST /orders"} <= set(
        endpoints
    )


@pytest.mark.slow
def test_wrong_answers_are_counted_as_errors_by_kind(running, seeded, tmp_path) -> None:
    """Users drawn from 1..5000 against 500 seeded users: about 90% of answers are 404s."""
    service = running["fastapi"]
    out = tmp_path / "recorded.json"
    plan = StepPlan((5,), warmup_s=1, measure_s=4)
    spec = {**SMALL_SEED.as_dict(), "users": SMALL_SEED.users * 10}
    locust = generator.start(
        ["--headless", "--only-summary", "--exit-code-on-error", "0", *generator.plan_args(plan),
         "--results-file", str(out), "Read"],
        service.url, spec, tmp_path / "locust.log", None,
    )  # fmt: skip
    try:
        locust.popen.wait(timeout=60)
    finally:
        locust.stop()
    recorded = json.loads(out.read_text())
    totals = recorded["totals"]["GET /users/{id}"]
    not_found = totals["errors"].get("http_404", 0)
    assert not_found > 0.7 * (totals["ok"]["count"] + totals["failed"]["count"]), totals["errors"]
    assert totals["failed"]["count"] == sum(totals["errors"].values()), "failures timed apart"
    all_errors = sum(sum(t["errors"].values()) for t in recorded["totals"].values())
    assert all_errors == recorded["locust"]["failures"]
    assert set().union(*(t["errors"] for t in recorded["totals"].values())) == {"http_404"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--services", "flask,django"], "unknown variant 'django' (known: flask, flask:sync"),
        (["--services", "flask,flask"], "variant 'flask' is listed twice"),
        (["--rounds", "3"], "--rounds is gone: the variants now take turns within every step"),
        (["--blocks", "0"], "blocks must be between 1 and 50, got 0"),
        (["--switch-seconds", "0.1"], "switch seconds must be between 0.5 and 3600, got 0.1"),
        (["--scenario", "checkout"], "unknown scenario 'checkout'"),
        (["--profile", "huge"], "unknown profile 'huge'"),
        (["--steps", "50,10"], "steps must increase"),
        (["--steps", "10,10"], "steps must increase"),
        (["--steps", "0,10"], "steps must be positive"),
        (["--steps", "ten"], "comma-separated integers"),
        (["--step-seconds", "2"], "step seconds must be between 4 and 3600, got 2 (CPU is sampled"),
        (["--workers", "0"], "--workers must be between 1 and 32"),
        (["--step-seconds", "nan"], "step seconds must be between 4 and 3600, got nan"),
        (["--warmup-seconds", "inf"], "warm-up seconds must be between 1 and 3600, got inf"),
        (["--scenario", ""], "no scenario given"),
        (["--steps", ""], "at least one step is needed"),
    ],
)
def test_bad_run_input_is_a_one_line_error(args, expected, state_dir, tmp_path) -> None:
    result = run_cli("run", *args, "--out", str(tmp_path), env=cli_env(state_dir))
    assert expected in one_line_error(result)
    assert not list(tmp_path.iterdir()), "nothing is written for bad input"


def test_run_refuses_an_output_path_that_is_a_file(state_dir, tmp_path) -> None:
    target = tmp_path / "a-file"
    target.write_text("")
    line = one_line_error(run_cli("run", "--out", str(target), env=cli_env(state_dir)))
    assert "is not a directory" in line


def test_run_refuses_a_port_in_use(running, state_dir, tmp_path) -> None:
    busy = running["flask"].settings.port
    line = one_line_error(
        run_cli("run", "--port", str(busy), "--out", str(tmp_path), env=cli_env(state_dir))
    )
    assert f"port {busy}" in line and "in use" in line


@pytest.mark.slow
def test_a_service_that_cannot_start_stops_the_run(seeded, state_dir, tmp_path) -> None:
    env = cli_env(state_dir, GUNICORN_CMD_ARGS="--no-such-gunicorn-option")
    result = run_cli(
        "run", *TINY, "--services", "flask", "--out", str(tmp_path), env=env, timeout=120
    )
    line = one_line_error(result)
    assert "Flask service exited with code" in line and "before becoming healthy" in line
    data = store.load(only_run_dir(tmp_path))
    assert data.run.status == "failed" and "before becoming healthy" in data.run.error


def _leftovers(state_dir: Path, data_dir: str | None = None) -> list[str]:
    """Orphans: processes started for ``state_dir`` (services, Locust) or serving
    ``data_dir`` (PostgreSQL) that are not this test session's own (its descendants)."""
    ours = {p.pid for p in psutil.Process().children(recursive=True)} | {psutil.Process().pid}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid in ours or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (data_dir and data_dir in cmdline) or proc.environ().get(
                "LOADTESTS_STATE_DIR"
            ) == str(state_dir):
                found.append(cmdline)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_interrupting_a_run_stops_everything_and_keeps_partial_results(tmp_path) -> None:
    state = tmp_path / "state"
    env = cli_env(state)
    try:
        _interrupt_a_run(state, env, tmp_path / "runs")
    finally:
        run_cli("db", "destroy", env=env)  # even when an assertion failed: leave nothing


def _interrupt_a_run(state: Path, env: dict[str, str], out: Path) -> None:
    assert run_cli("db", "up", env=env).returncode == 0
    assert run_cli("db", "seed", "--users", "300", "--customers", "100", "--products", "20",
                   "--orders", "500", env=env).returncode == 0  # fmt: skip
    data_dir = json.loads((state / "postgres.json").read_text())["data_dir"]
    assert run_cli("db", "down", env=env).returncode == 0  # the run starts (and stops) it
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests", "run", "--steps", "5,10,20", "--step-seconds", "4",
         "--warmup-seconds", "1", "--blocks", "1", "--out", str(out)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # interrupt once Locust is measuring Flask
            logs = list(out.glob("*/locust/*.log"))
            if logs and "step 2/3" in logs[0].read_text():
                break
            time.sleep(0.5)
        else:
            pytest.fail("the run did not reach its second step")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "partial results kept" in stdout
    time.sleep(1)
    assert _leftovers(state, data_dir) == []
    data = store.load(only_run_dir(out))
    assert data.run.status == "partial"
    kept = next(iter(data.scenarios.values())).runs[0]
    assert kept.status == "partial"
    assert [step.users for step in kept.steps] == [5], "the finished step is kept"


@pytest.mark.slow
def test_web_ui_starts_runs_reports_and_stops(seeded, state_dir) -> None:
    web_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtests", "ui", "fastapi", "--web-port", str(web_port), "--no-browser"],
        cwd=PROJECT_ROOT, env=cli_env(state_dir), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    ui = f"http://127.0.0.1:{web_port}"
    try:
        service_url = None
        while service_url is None:
            line = proc.stdout.readline()
            assert line, "ui exited before printing the service URL"
            if " on http://" in line:
                service_url = line.split(" on ", 1)[1].split()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(ui, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the web UI did not come up"
                time.sleep(0.3)
        assert page.status_code == 200
        started = httpx.post(f"{ui}/swarm", data={
            "user_classes": "SelectUpdate", "shape_class": "RisingSteps", "host": service_url,
            "steps": "5,10", "step_seconds": "4", "warmup_seconds": "1",
        }).json()  # fmt: skip
        assert started["success"], started
        deadline = time.monotonic() + 20
        while True:
            stats = httpx.get(f"{ui}/stats/requests").json()
            counted = {s["name"]: s["num_requests"] for s in stats["stats"]}
            if counted.get("PATCH /users/{id}", 0) > 0:
                break
            assert time.monotonic() < deadline, stats
            time.sleep(0.5)
        assert stats["fail_ratio"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    time.sleep(1)
    assert _leftovers(state_dir) == []
    with pytest.raises(httpx.TransportError):
        httpx.get(ui, timeout=2)
