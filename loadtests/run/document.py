"""The results document of a run before anything is measured: what runs, where, how."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from loadtests.infra import cpu, database, environment
from loadtests.plan import SCENARIOS, SWITCH_PER_USER_S
from loadtests.results.models import (
    CpuLayoutInfo,
    DatabaseInfo,
    Environment,
    Fairness,
    PgBouncerInfo,
    Plan,
    RunInfo,
    RunResults,
    ScenarioResults,
    Seed,
    SettingDifference,
    VariantInfo,
)
from loadtests.run.service import ServiceUnderTest
from loadtests.run.state import RunOptions
from services.common.urls import redacted

FAIRNESS_NOTES = [
    "Every variant runs pinned to the same service cores with the same shared settings "
    "(pool, timeouts, keep-alive, JSON encoder, access logs off); what a variant changes is "
    "listed below as a difference from the baseline.",
    "The variants take turns within every step, in a random order per block, on the same "
    "database; every turn starts on new connections after the same warm-up.",
    "Every variant sends the SQL of services/common (queries.py for the ORM modes, sql.py for "
    "raw asyncpg), closes its session before the response is sent, and keeps "
    "expire_on_commit=False.",
    "Inherent differences: gunicorn restarts a worker whose main loop is stuck for 60 s "
    "(uvicorn has no such watchdog); psycopg2's connect timeout is whole seconds.",
]

# How each load generator holds its connections, the same for every variant (--connections).
CONNECTION_NOTES = {
    "keep-alive": "Connections are kept alive: each Locust user holds one connection (N users, "
    "N connections), and so does each wrk thread in the cross-check (one thread per "
    "connection); both open new connections at every turn.",
    "close": "Every request says Connection: close (--connections close), from Locust and from "
    "wrk alike: a new TCP connection per request, accepted by the service's listener.",
}


def skeleton(
    options: RunOptions,
    target: database.Target,
    layout: cpu.CpuLayout,
    services: dict[str, ServiceUnderTest],
    run_dir: Path,
    seed: dict[str, Any],
    bouncer: PgBouncerInfo,
) -> RunResults:
    return RunResults(
        run=RunInfo(
            id=run_dir.name,
            status="running",
            started_at=time.time(),
            finished_at=None,
            duration_s=None,
            profile=options.profile,
            command=options.command,
            scenarios=[s.scenario for s in options.scenarios],
            variants=options.variant_names,
            locust_processes=options.locust_processes,
            fault=options.fault,
            audit=options.audit,
            connections=options.connections,
        ),
        environment=Environment(machine=environment.machine(), versions=environment.versions()),
        database=DatabaseInfo(
            kind="embedded" if target.embedded else "external",
            url=redacted(target.url),
            settings=database.server_settings(target.url),
            seed=Seed(spec=seed["spec"], rows=seed["rows"], checksum=seed["checksum"]),
            pinned=bool(target.embedded and layout.pinned),
        ),
        pgbouncer=bouncer,
        cpu_layout=CpuLayoutInfo(**layout.to_dict()),
        variants={name: variant_info(service) for name, service in services.items()},
        fairness=fairness(services, options.connections),
        scenarios={
            s.scenario: ScenarioResults(
                description=SCENARIOS[s.scenario].description,
                user_class=SCENARIOS[s.scenario].user_class,
                variants=list(s.variants),
                plan=Plan(
                    steps=list(s.plan.steps),
                    warmup_seconds=s.plan.warmup_s,
                    step_seconds=s.plan.measure_s,
                    blocks=s.plan.blocks,
                    top_blocks=s.plan.top_blocks,
                    model=s.plan.model,
                    arrivals=s.plan.arrivals if s.plan.open else None,
                    max_in_flight=s.plan.max_in_flight if s.plan.open else None,
                    switch_seconds=s.plan.switch_s,
                    variant_steps={v: list(levels) for v, levels in s.plan.variant_steps} or None,
                    switch_per_user_seconds=SWITCH_PER_USER_S,
                    switch_max_seconds=s.plan.switch_max_s,
                    interleaved=s.plan.interleaved,
                ),
                design="blocks",
            )
            for s in options.scenarios
        },
    )


def variant_info(service: ServiceUnderTest) -> VariantInfo:
    variant = service.variant
    return VariantInfo(
        name=variant.name,
        label=variant.display,
        service=variant.service.value,
        mode=variant.mode.value if variant.mode else None,
        stack=variant.stack,
        description=variant.description,
        antipattern=variant.antipattern,
        builtin=variant.builtin,
        process_model=service.describe(),
        settings=service.values(),
        connection_budget=service.connection_budget(),
        external_url=service.variant.url,
    )


def fairness(services: dict[str, ServiceUnderTest], connections: str = "keep-alive") -> Fairness:
    """Every setting in which a variant differs from the baseline (the first listed)."""
    baseline_name, *others = services
    baseline = services[baseline_name].values()
    differences = []
    for name in others:
        values = services[name].values()
        for setting in dict.fromkeys([*baseline, *values]):
            if baseline.get(setting) != values.get(setting):
                differences.append(
                    SettingDifference(
                        variant=name,
                        setting=setting,
                        value=values.get(setting),
                        baseline=baseline.get(setting),
                    )
                )
    return Fairness(
        baseline=baseline_name,
        differences=differences,
        notes=[*FAIRNESS_NOTES, CONNECTION_NOTES[connections]],
    )
