"""Small helpers shared by the tests: running the CLI the way a user does, and synthetic
results documents."""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from loadtests.results import store
from loadtests.results.models import BlockValues, RunResults, Window

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cli_env(state_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a user's shell, minus anything that would leak between tests."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOADTESTS_STATE_DIR")}
    if state_dir is not None:
        env["LOADTESTS_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120, check_clean: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadtests ARGS``; by default assert it did not crash with a traceback.

    The command gets its own process group: on a timeout it is interrupted as a user would
    (Ctrl-C, so it stops its services and Locust), then the whole group is killed, so that
    no load outlives the test that started it and skews the next one."""
    process = start_cli(*args, env=env)
    stdout, stderr = finish(process, timeout)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check_clean:
        assert "Traceback" not in result.stderr, result.stderr
    return result


def start_cli(*args: str, env: dict[str, str], root: Path = PROJECT_ROOT) -> subprocess.Popen[str]:
    """``python -m loadtests ARGS`` in the background, in its own process group (``root``:
    another copy of the project, for a worker running other code)."""
    return subprocess.Popen(
        [sys.executable, "-m", "loadtests", *args], cwd=root, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float = 90) -> tuple[str, str]:
    """Its output once it ends; stopped as ``run_cli`` stops one on a timeout."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(process)
        raise


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Interrupt, then kill, everything in the command's process group."""
    for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig is signal.SIGINT:
            with contextlib.suppress(ProcessLookupError):  # its children may outlive it
                os.killpg(process.pid, signal.SIGKILL)
        return


OLD_RESULTS = PROJECT_ROOT / "tests" / "data" / "results-v1.json"  # schema 1, converted on load


def old_run(parent: Path, name: str = "old-run") -> Path:
    """A run directory holding the oldest results document the suite still reads."""
    run_dir = parent / name
    run_dir.mkdir(exist_ok=True)
    shutil.copy(OLD_RESULTS, run_dir / "results.json")
    return run_dir


def run_to_dir(state_dir: Path, out: Path, *args: str, timeout: float = 300) -> Path:
    """``run ARGS --out OUT`` as a user runs it; it must succeed; its run directory."""
    result = run_cli("run", *args, "--out", str(out), env=cli_env(state_dir), timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    return only_run_dir(out)


def only_run_dir(out: Path) -> Path:
    """The one run directory a command wrote under ``out``."""
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the suite's error convention (exit 2, one line on stderr) and return the line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def scattered(
    factor: Callable[[str], float] = lambda variant: 1.0,
    noise: float = 0.03,
    seed: int = 1,
    blocks: int = 6,
    data: RunResults | None = None,
) -> RunResults:
    """``data`` (default: the old sample run) with ``blocks`` per step around its figures:
    each variant's latency times ``factor(variant)``, its throughput divided by it, each
    block scattered by ``noise`` (log sd)."""
    data = data or store.load(OLD_RESULTS)
    rng = random.Random(seed)
    for scenario in data.scenarios.values():
        scenario.design = "blocks"
        for run in scenario.runs:
            k = factor(run.variant)
            for step in run.steps:
                step.latency_ms.p50 *= k
                step.latency_ms.p95 *= k
                step.latency_ms.p99 *= k
                step.throughput_rps /= k
                step.blocks = [
                    _block(b, step.latency_ms.p50, step.latency_ms.p99, step.throughput_rps,
                           rng.gauss(0, noise))
                    for b in range(1, blocks + 1)
                ]  # fmt: skip
    return data


def _block(number: int, p50: float, p99: float, rps: float, drift: float) -> BlockValues:
    k = math.exp(drift)
    return BlockValues(
        block=number, position=1, window=Window(start=0, end=4, seconds=4), requests=1000,
        successes=1000, throughput_rps=rps / k, p50=p50 * k, p95=p99 * k * 0.8, p99=p99 * k,
        p99_9=p99 * k * 1.2, error_rate=0.0,
    )  # fmt: skip
