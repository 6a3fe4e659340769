"""capacity against real services: a variant slowed by a known CPU burn per request comes
out with a lower capacity than the same variant unslowed, with every probe run, the
document and its page written; an interrupted search keeps what it measured."""

from __future__ import annotations

import html
import os
import signal
import subprocess
import time

import psutil
import pytest

from loadtests.report import index_page
from loadtests.results import capacity, store
from tests.helpers import cli_env, finish, only_run_dir, run_cli, start_cli

# 1 ms of CPU per request on the service's core, beside Flask's own 1.5-2 ms on
# select-update here: its capacity should fall by about a third.
BURN = '["flask:burn"]\nservice = "flask"\nsettings = { CPU_BURN_MS = 1.0 }\n'
QUICK = ("--scenario", "select-update", "--step-seconds", "4", "--warmup-seconds", "3")


@pytest.mark.slow
@pytest.mark.alone
def test_a_variant_slowed_by_a_cpu_burn_has_a_lower_capacity(seeded, state_dir, tmp_path):
    variants = tmp_path / "burn.toml"
    variants.write_text(BURN)
    out = tmp_path / "reports"
    result = run_cli(
        "capacity", *QUICK, "--services", "flask,flask:burn", "--variants", str(variants),
        "--ramp", "200,300,450,675", "--rounds", "1", "--confirm-blocks", "1",
        "--out", str(out), env=cli_env(state_dir), timeout=420,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    directory = only_run_dir(out)
    found = capacity.load(directory)
    assert found.status == "complete" and found.slo.label == "p99 ≤ 250 ms"
    fast, slow = found.estimates["flask"], found.estimates["flask:burn"]
    # "unresolved": bracketed, but the fit through a noisy knee placed it outside the
    # probed rates; the bracket's ends then stand in for the estimate.
    assert fast.status in ("estimated", "at least", "unresolved"), fast
    assert slow.status in ("estimated", "below", "unresolved"), slow
    fast_rps = fast.capacity_rps or fast.within_rps
    slow_rps = slow.capacity_rps or slow.beyond_rps
    assert fast_rps is not None and slow_rps is not None
    assert slow_rps < 0.85 * fast_rps, (fast, slow)
    # Every phase a whole run with its own results and report, listed in the document.
    # The ramp (and any run past its top: the unslowed Flask may be within at 675), then
    # the bisection and the confirmation, in that order.
    order = ["ramp", "bisect", "confirm"]
    phases = [run.rsplit("-", 1)[-1] for run in found.runs]
    assert phases[0] == "ramp" and set(phases) == set(order), found.runs
    assert phases == sorted(phases, key=order.index), found.runs
    for run in found.runs:
        data = store.load(directory / run)
        assert data.run.status == "complete" and (directory / run / "index.html").exists()
        # Only the confirmation takes every rate in every block (in a random order).
        plan = data.scenarios["select-update"].plan
        assert plan.interleaved == run.endswith("confirm"), (run, plan)
    assert {p.phase for p in found.probes} == {"ramp", "bisect", "confirm"}
    assert all(p.arrivals > 0 and p.lag_p99_ms is not None for p in found.probes)
    # The terminal's headline and the page's are the same sentence.
    page = html.unescape((directory / "index.html").read_text())  # the text as shown
    headline = next(line for line in result.stdout.splitlines() if line.startswith("At p99"))
    assert headline in page and "Flask sustains" in headline
    assert directory.name in (out / index_page.FILENAME).read_text()


@pytest.mark.slow
def test_an_interrupted_search_keeps_its_document_and_stops_its_load(seeded, state_dir, tmp_path):
    out = tmp_path / "reports"
    process = start_cli(
        "capacity",
        *QUICK,
        "--services",
        "flask",
        "--ramp",
        "100,200",
        "--out",
        str(out),
        env=cli_env(state_dir),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob("*/probes/*/locust/*.json")):
        time.sleep(0.5)  # Locust is writing: the ramp is under way
    time.sleep(3)
    started = psutil.Process(process.pid).children(recursive=True)  # Locust, the service
    assert started
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = finish(process, timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    found = capacity.load(only_run_dir(out))
    assert (found.status, found.error) == ("partial", "interrupted")
    assert found.runs and (out / found.id / "index.html").exists()
    ps = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True)
    assert ps.stdout.strip() == "", "a process of the search outlived it"
    # Locust and the services run in sessions of their own, out of reach of that group.
    left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"outlived the search: {left}"
