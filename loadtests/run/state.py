"""A run's options, and the run in progress: its directory, what it started, its results."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.infra import cpu, database, pgbouncer
from loadtests.paths import REPORTS_DIR
from loadtests.plan import ScenarioPlan
from loadtests.recording.wire import Connections
from loadtests.results import store
from loadtests.results.models import FaultPlan, RunResults
from loadtests.run.generator import RemoteWorkers
from loadtests.run.service import ServiceUnderTest
from loadtests.variants import Variant


@dataclass
class RunOptions:
    scenarios: tuple[ScenarioPlan, ...]
    variants: dict[str, Variant]  # every variant the scenarios name
    locust_processes: int = 1
    out_root: Path = REPORTS_DIR
    profile: str | None = None
    pin: bool = True
    port: int | None = None
    shared: dict[str, Any] = field(default_factory=dict)  # env overrides for every variant
    command: str = ""
    pgbouncer: bool = False
    seed: int | None = None  # of the block orders; None: drawn at random and recorded
    cross_check: int | None = None  # blocks of the highest step with wrk turns; None: off
    connections: Connections = "keep-alive"  # both generators: Connection: close, or not
    fault: FaultPlan | None = None  # injected into every variant's run (extras/faults.py)
    audit: bool = False  # check every acknowledged write after each run (extras/audit.py)
    ceiling: bool = True  # pgbench on the scenario's SQL before the variants run it
    name: str | None = None  # the run directory's name after its time stamp (capacity's probes)
    remote: RemoteWorkers | None = None  # Locust workers on other hosts (generator.py)

    @property
    def variant_names(self) -> list[str]:
        return list(dict.fromkeys(v for s in self.scenarios for v in s.variants))

    def expected_runs(self) -> int:
        """Variant runs: one per variant and scenario (its windows in every block)."""
        return sum(len(s.variants) for s in self.scenarios)


@dataclass
class Run:
    """A run in progress. ``target`` follows the database when a fault restarts it."""

    options: RunOptions
    run_dir: Path
    layout: cpu.CpuLayout
    target: database.Target
    services: dict[str, ServiceUnderTest]
    results: RunResults
    seed_spec: dict[str, int]
    bouncer: pgbouncer.PgBouncer | None = None
    started: float = field(default_factory=time.time)
    # Why this role may not reset the database (README, "Using an existing PostgreSQL
    # instead"); None: it may, and every scenario starts from the seed.
    reset_refused: str | None = None

    def reset_database(self) -> None:
        """Back to the seed, unless the role may not: the run has said so once."""
        if self.reset_refused is None:
            database.reset(self.target)

    def save(self) -> None:
        store.write(self.run_dir, self.results)
