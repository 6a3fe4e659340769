"""The load generator's own ceiling (`python -m loadtests generator`): the trivial endpoint
it drives, a measurement with two workers joining from other loopback addresses (the
issue's setup: a master on 127.0.0.2), and its bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests.infra.ports import free_port
from tests.helpers import PROJECT_ROOT, cli_env, finish, one_line_error, run_cli, start_cli

MASTER_HOST = "127.0.0.2"  # loopback, never anything outside it


@pytest.fixture
def trivial():
    import subprocess

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtests.infra.trivial", "127.0.0.1", str(port)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    process.terminate()
    process.communicate(timeout=10)


def _exchange(port: int, data: bytes, expect: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        received = b""
        while received.count(b"HTTP/1.1") < expect or not received.endswith((b"}", b"\r\n\r\n")):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_the_trivial_endpoint_answers_pipelined_requests_in_order(trivial):
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    other = b"GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"
    answers = _exchange(trivial, request + other + request, expect=3)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answers)
    assert statuses == [b"200", b"404", b"200"]
    assert answers.count(b'{"status":"ok"}') == 2


def test_the_trivial_endpoint_cuts_off_a_head_that_never_ends(trivial):
    with socket.create_connection(("127.0.0.1", trivial), timeout=5) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\n" + b"X: " + b"y" * 70_000)
        assert conn.recv(100) == b""  # closed, nothing answered


def test_the_trivial_endpoint_says_when_it_cannot_listen(trivial):
    import subprocess

    taken = subprocess.run(
        [sys.executable, "-m", "loadtests.infra.trivial", "127.0.0.1", str(trivial)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert taken.returncode == 2
    assert taken.stderr.strip().startswith(f"error: cannot listen at 127.0.0.1:{trivial}")


@pytest.mark.slow
@pytest.mark.alone
def test_two_workers_on_loopback_addresses_outrun_one_process_with_every_response_counted(
    state_dir, tmp_path
):
    """The issue's setup: the master on 127.0.0.2, two `worker` processes joining it,
    each staying for both distributed turns. The ratio is the measurement's own; the
    bound asserted is a loose one (the README has the figures)."""
    port = free_port(MASTER_HOST)
    env = cli_env(state_dir)
    master = start_cli(
        "generator", "--master-bind", f"{MASTER_HOST}:{port}", "--expect-workers", "2",
        "--workers-timeout", "30", "--repeat", "2", "--seconds", "4", "--users", "40",
        "--out", str(tmp_path), env=env,
    )  # fmt: skip
    time.sleep(1.0)
    workers = [
        start_cli("worker", "--master", f"{MASTER_HOST}:{port}", "--name", name, env=env)
        for name in ("host-b", "host-c")
    ]
    stdout, stderr = finish(master, timeout=150)
    outputs = [finish(worker, timeout=30) for worker in workers]
    assert master.returncode == 0, stdout[-3000:] + stderr
    for worker, (worker_out, worker_err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, worker_out + worker_err
        assert worker_out.count("the master's next run follows") == 1, worker_out
    (found,) = tmp_path.glob("generator-*/generator.json")
    result = json.loads(found.read_text())
    assert len(result["repetitions"]) == 2
    for one, spread in result["repetitions"]:
        for turn in (one, spread):
            assert turn["responses"] == turn["locust_responses"] > 0
            assert turn["errors"] == 0
        assert one["per_worker"] == {}
        assert len(spread["per_worker"]) == 2
        assert sum(spread["per_worker"].values()) == spread["responses"]
        assert len(spread["workers_cpu_percent"]) == 2
        assert one["generator_cpu_percent"] > 50  # one process, as fast as it goes
        assert spread["rps"] > 1.2 * one["rps"], (one["rps"], spread["rps"])
    assert stdout.count("every response accounted for") == 2
    assert "2 worker(s) / one process: " in stdout and "95% CI" in stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--workers", "1"], "--workers must be at least 2"),
        (["--workers", "40"], "--workers must be between 1 and 32"),
        (["--repeat", "0"], "--repeat must be between 1 and 20"),
        (["--users", "1"], "--users must be between 2 and 5000"),
        (["--seconds", "1"], "--seconds must be between 3 and 600"),
        (["--expect-workers", "2"], "--master-bind and --expect-workers go together"),
        (["--master-bind", "127.0.0.2:5599", "--expect-workers", "2", "--workers", "2"],
         "with --master-bind every worker joins"),
    ],
)  # fmt: skip
def test_bad_generator_options_are_one_line(args, said, state_dir, tmp_path: Path):
    result = run_cli("generator", *args, "--out", str(tmp_path), env=cli_env(state_dir))
    assert said in one_line_error(result)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_an_interrupted_measurement_stops_everything_it_started(state_dir, tmp_path):
    """Ctrl-C mid-turn: exit 130, and neither Locust nor the trivial endpoint (each in a
    session of its own, out of reach of the terminal's ^C) outlives the command."""
    process = start_cli(
        "generator", "--repeat", "3", "--seconds", "20", "--users", "20",
        "--out", str(tmp_path), env=cli_env(state_dir),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob("generator-*/1-*/locust.log")):
        time.sleep(0.2)
    time.sleep(3)  # Locust is under way
    started = psutil.Process(process.pid).children(recursive=True)
    assert len(started) >= 2, started  # the endpoint and Locust at least
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = finish(process, timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"outlived the command: {left}"
