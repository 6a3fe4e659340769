"""Locust workers on other hosts, simulated on this machine: the master listens on another
loopback address (127.0.0.2) and each worker is its own process joining it with
`python -m loadtests worker`. Two workers share the load with exact accounting; a worker
that never comes, and one running other code, stop the run with one line (and the
refused worker with one line of its own); bad options are one line before anything
starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from loadtests.infra.ports import free_port
from loadtests.recording.histogram import Histogram
from loadtests.results import store
from tests.helpers import (
    PROJECT_ROOT,
    cli_env,
    finish,
    one_line_error,
    only_run_dir,
    run_cli,
    start_cli,
)

MASTER_HOST = "127.0.0.2"  # loopback, never anything outside it
QUICK = ("--scenario", "get-user", "--services", "flask", "--steps", "10,40", "--blocks", "1",
         "--step-seconds", "4", "--warmup-seconds", "2", "--no-ceiling", "--cross-check", "off")  # fmt: skip


def _start(args: list[str], state_dir: Path, root: Path = PROJECT_ROOT) -> subprocess.Popen[str]:
    return start_cli(*args, env=cli_env(state_dir, PYTHONPATH=str(root)), root=root)


def _worker(port: int, name: str, state_dir: Path, root: Path = PROJECT_ROOT):
    return _start(["worker", "--master", f"{MASTER_HOST}:{port}", "--name", name], state_dir, root)


@pytest.mark.slow
def test_two_workers_on_other_hosts_share_the_load_with_exact_accounting(
    seeded, state_dir, tmp_path
):
    """Two scenarios: each is a Locust run of its own, and the workers stay for both."""
    port = free_port(MASTER_HOST)
    out = tmp_path / "reports"
    master = _start(
        ["run", *QUICK, "--scenario", "get-user,read", "--master-bind", f"{MASTER_HOST}:{port}",
         "--expect-workers", "2", "--workers-timeout", "30", "--out", str(out)],
        state_dir,
    )  # fmt: skip
    time.sleep(1.0)
    started = time.monotonic()
    workers = [_worker(port, name, state_dir) for name in ("host-b", "host-c")]
    stdout, stderr = finish(master, timeout=200)
    outputs = [finish(worker, timeout=30) for worker in workers]
    assert master.returncode == 0, stdout[-3000:] + stderr
    assert "Traceback" not in stderr
    for worker, (worker_out, worker_err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, worker_out + worker_err
        assert worker_out.count("the master's next run follows: joining it") == 1, worker_out
        assert worker_out.strip().endswith("the master's run ended")
    assert "Locust worker host-b" in stdout and "joined" in stdout
    data = store.load(only_run_dir(out))
    page = (only_run_dir(out) / "index.html").read_text()
    for name in ("get-user", "read"):
        scenario = data.scenarios[name]
        hosts = {g.name: g for g in scenario.generators}
        assert set(hosts) == {"host-b", "host-c"}, name
        # Exact accounting: what each worker recorded adds up to the merged totals and to
        # Locust's own count; each took about half of the users.
        assert scenario.recorded is not None and scenario.locust_counts is not None
        per_worker = scenario.recorded.per_worker
        assert sum(per_worker.values()) == scenario.recorded.requests
        assert scenario.recorded.requests == scenario.locust_counts.requests
        assert {g.requests for g in hosts.values()} == set(per_worker.values())
        shares = [g.requests / scenario.recorded.requests for g in hosts.values()]
        assert all(0.3 < share < 0.7 for share in shares), shares
        assert all(g.cpu_mean_percent is not None and g.cpu_mean_percent > 0
                   for g in hosts.values())  # fmt: skip
        (run,) = scenario.runs
        for step in run.steps:  # the merged histogram counts every response of the step
            assert Histogram.from_dict(step.latency_histogram).count == step.successes
    assert 'data-worker="host-b"' in page and 'data-worker="host-c"' in page
    assert time.monotonic() - started < 180


@pytest.mark.slow
def test_a_worker_that_never_comes_stops_the_run_with_one_line(seeded, state_dir, tmp_path):
    port = free_port(MASTER_HOST)
    result = run_cli(
        "run", *QUICK, "--master-bind", f"{MASTER_HOST}:{port}", "--expect-workers", "1",
        "--workers-timeout", "3", "--out", str(tmp_path), env=cli_env(state_dir), timeout=120,
    )  # fmt: skip
    line = one_line_error(result)
    assert f"0 of 1 Locust worker(s) joined within 3 s at {MASTER_HOST}:{port}" in line


def _other_code(other: Path) -> None:
    scenarios = other / "loadtests" / "locust" / "scenarios.py"
    scenarios.write_text(scenarios.read_text() + "\n# another version of the scenarios\n")


def _other_version(other: Path) -> None:
    """The same code, installed as another release: metadata found first on its path."""
    info = other / "flask_vs_fastapi_loadtests-0.0.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: flask-vs-fastapi-loadtests\nVersion: 0.0.9\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_other_code, "its scenario definitions or Locust code differ"),
        (_other_version, "it runs suite version 0.0.9, the master "),
    ],
    ids=["other-code", "other-version"],
)
def test_a_worker_running_other_code_or_version_is_refused_on_both_sides(
    change, why, seeded, state_dir, tmp_path
):
    other = tmp_path / "other"
    for package in ("loadtests", "services"):
        shutil.copytree(PROJECT_ROOT / package, other / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    change(other)
    port = free_port(MASTER_HOST)
    master = _start(
        ["run", *QUICK, "--master-bind", f"{MASTER_HOST}:{port}", "--expect-workers", "1",
         "--workers-timeout", "8", "--out", str(tmp_path / "reports")],
        state_dir,
    )  # fmt: skip
    time.sleep(1.0)
    worker = _worker(port, "stranger", state_dir, root=other)
    worker_out, worker_err = finish(worker, timeout=60)
    stdout, stderr = finish(master, timeout=120)
    assert worker.returncode == 2, worker_out + worker_err
    refusal = [line for line in worker_err.strip().splitlines() if line.startswith("error:")]
    assert len(refusal) == 1 and why in refusal[0], refusal
    assert master.returncode == 2, stdout[-2000:] + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "0 of 1 Locust worker(s) joined" in lines[0]
    assert f"stranger refused ({why}" in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--master-bind", "127.0.0.2:5599"], "--master-bind and --expect-workers go together"),
        (["--expect-workers", "2"], "--master-bind and --expect-workers go together"),
        (["--master-bind", "nowhere", "--expect-workers", "1"], "must be HOST:PORT"),
        (["--master-bind", "127.0.0.2:99999", "--expect-workers", "1"], "not between 1 and"),
        (["--master-bind", "127.0.0.2:5599", "--expect-workers", "0"], "between 1 and 64"),
        (["--master-bind", "127.0.0.2:5599", "--expect-workers", "1", "--workers", "2"],
         "with --master-bind every worker joins"),
    ],
)  # fmt: skip
def test_bad_remote_options_are_one_line(args, said, state_dir, tmp_path):
    result = run_cli("run", *QUICK, *args, "--out", str(tmp_path), env=cli_env(state_dir))
    assert said in one_line_error(result)
    assert not any(tmp_path.iterdir())


def test_a_worker_needs_an_address(state_dir):
    result = run_cli("worker", "--master", "5557", env=cli_env(state_dir))
    assert "--master must be HOST:PORT" in one_line_error(result)


@pytest.mark.slow
def test_a_worker_lost_mid_run_marks_its_step_and_the_run_partial(seeded, state_dir, tmp_path):
    """A worker killed in the first steps: the steps its loss reaches into are marked
    partial (in the results, the table and the trust panel), the later ones are not (the
    remaining worker took the users over), and the run ends partial with exit 1."""
    port = free_port(MASTER_HOST)
    out = tmp_path / "reports"
    master = _start(
        ["run", *QUICK, "--steps", "10,20,40,80", "--master-bind", f"{MASTER_HOST}:{port}",
         "--expect-workers", "2", "--workers-timeout", "30", "--out", str(out)],
        state_dir,
    )  # fmt: skip
    time.sleep(1.0)
    kept, doomed = (_worker(port, name, state_dir) for name in ("host-b", "host-c"))
    time.sleep(9.0)  # joined, and into the first step
    os.killpg(doomed.pid, signal.SIGKILL)  # the host goes away: no goodbye, no heartbeat
    finish(doomed)
    stdout, stderr = finish(master, timeout=150)
    finish(kept, timeout=30)
    assert master.returncode == 1, stdout[-3000:] + stderr  # partial, like a local failure
    data = store.load(only_run_dir(out))
    scenario = data.scenarios["get-user"]
    lost = {g.name for g in scenario.generators if g.lost_at is not None}
    assert lost == {"host-c"}
    (run,) = scenario.runs
    assert run.status == "partial" and "host-c was lost" in (run.error or "")
    marked = [step.users for step in run.steps if step.lost_workers == ["host-c"]]
    assert marked and marked == [s.users for s in run.steps[: len(marked)]], marked
    assert run.steps[-1].lost_workers == [] and run.steps[-1].requests > 0
    html = (only_run_dir(out) / "index.html").read_text()
    assert "Locust worker host-c was lost during the run" in html
    assert "partial: worker host-c lost" in html
    assert f"Flask, {marked[0]} users: partial, Locust worker host-c was lost" in html
