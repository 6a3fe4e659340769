"""The load generator processes (Locust) the suite starts, headless or with the web UI."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtests import launcher
from loadtests.infra.processes import Supervised
from loadtests.paths import PROJECT_ROOT
from loadtests.plan import ID_RANGES_ENV, PROGRESS_PREFIX, StepPlan, id_ranges
from services.common.settings import ServiceSettings

LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locustfile.py"


def plan_args(plan: StepPlan) -> list[str]:
    return [
        "--steps", ",".join(str(users) for users in plan.steps),
        "--step-seconds", str(plan.measure_s),
        "--warmup-seconds", str(plan.warmup_s),
    ]  # fmt: skip


def start(
    args: Sequence[str],
    settings: ServiceSettings,
    seed_spec: dict[str, Any],
    log: Path,
    cpus: Sequence[int] | None,
    processes: int = 1,
) -> Supervised:
    """``locust -f loadtests/locustfile.py ARGS`` against the service, logging to ``log``."""
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE),
            "--host", launcher.base_url(settings), *args]  # fmt: skip
    if processes > 1:
        argv += ["--processes", str(processes)]
    env = launcher.service_env(settings)
    env[ID_RANGES_ENV] = json.dumps(id_ranges(seed_spec))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {shlex.join(argv)}\n")
    return Supervised("locust", argv, env, log, cpus, cwd=PROJECT_ROOT)


def forward_progress(log: Path, offset: int) -> int:
    """Print the progress lines written to ``log`` since ``offset``; return the new offset."""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset
    complete = chunk.rfind(b"\n") + 1
    for line in chunk[:complete].decode(errors="replace").splitlines():
        if line.startswith(PROGRESS_PREFIX):
            print("   " + line[len(PROGRESS_PREFIX) :], flush=True)
    return offset + complete
