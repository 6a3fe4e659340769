"""Before the first variant runs: the seed, the CPU layout, every variant's settings
checked, room on the database for every pool at once, PgBouncer when asked for, the run's
directory and its first results.json."""

from __future__ import annotations

from pathlib import Path

from loadtests import files
from loadtests.errors import SuiteError
from loadtests.infra import cpu, database, pgbouncer
from loadtests.infra.postgres import EmbeddedPostgres
from loadtests.results.models import Connections, PgBouncerInfo, StatementCacheInfo
from loadtests.run.document import skeleton
from loadtests.run.service import ServiceUnderTest, connection_allowance
from loadtests.run.state import Run, RunOptions


def prepare(options: RunOptions, target: database.Target) -> Run:
    seed = database.ensure_seeded(target)
    layout = cpu.plan_layout(options.pin)
    # Every variant's settings are checked before anything starts.
    services = {
        name: ServiceUnderTest.prepare(
            options.variants[name], target.url, layout, options.shared, options.port
        )
        for name in options.variant_names
    }
    target, connections = _room_for_every_pool(target, services)
    run_dir = files.new_output_dir(options.out_root, run_name(options), "locust")
    bouncer = _bouncer(options, target, layout, services, run_dir) if options.pgbouncer else None
    try:
        described = _statement_cache(services, bouncer, target.url)
        results = skeleton(options, target, layout, services, run_dir, seed, described)
        results.database.connections = connections
        current = Run(options, run_dir, layout, target, services, results, seed["spec"], bouncer)
        current.save()
        return current
    except BaseException:
        if bouncer is not None:  # not yet owned by a Run: stop it here
            bouncer.stop()
        raise


def _room_for_every_pool(
    target: database.Target, services: dict[str, ServiceUnderTest]
) -> tuple[database.Target, Connections]:
    """Every variant's service is up while they take turns, so all their pools must fit at
    once. The embedded server is restarted with a higher max_connections when they do not;
    an external one is refused with the arithmetic."""
    needed = sum(service.connection_budget() for service in services.values())
    allowed, why = connection_allowance(target.url)
    limit = database.connection_limits(target.url)["max_connections"]
    if needed <= allowed:
        return target, Connections(needed=needed, allowed=allowed, max_connections=limit)
    if target.embedded is None:
        raise SuiteError(
            f"the variants' pools together can hold {needed} connections (every variant's "
            f"service runs while they take turns), but the database allows {allowed} ({why}): "
            "lower DB_POOL_SIZE, run fewer variants, or raise max_connections"
        )
    wanted = limit + needed - allowed
    print(f"raising the embedded PostgreSQL's max_connections from {limit} to {wanted}", flush=True)
    server = EmbeddedPostgres()
    server.down()
    state, _ = server.up(port=target.embedded.port, max_connections=wanted)
    raised = database.Target(url=state.url(target.name), embedded=state)
    allowed, _ = connection_allowance(raised.url)
    return raised, Connections(
        needed=needed, allowed=allowed, max_connections=wanted, raised_from=limit
    )


def run_name(options: RunOptions) -> str:
    scenarios = [s.scenario for s in options.scenarios]
    label = options.profile if options.profile and len(scenarios) > 1 else "+".join(scenarios)
    label = options.name or label
    return f"{files.stamp()}-{label}" + ("-pgbouncer" if options.pgbouncer else "")


def _bouncer(
    options: RunOptions,
    target: database.Target,
    layout: cpu.CpuLayout,
    services: dict[str, ServiceUnderTest],
    run_dir: Path,
) -> pgbouncer.PgBouncer:
    budget, clients = bouncer_sizes(services)
    cpus = list(layout.other_cpus) if layout.pinned else None
    log = run_dir / "logs" / "pgbouncer.log"
    return pgbouncer.start(target.url, budget, log, cpus, clients=clients)


def bouncer_sizes(services: dict[str, ServiceUnderTest]) -> tuple[int, int]:
    """PgBouncer's server pool (the largest service's connections) and its clients (every
    service's at once). Only the services the suite starts go through it: a target
    reaches its own database."""
    own = [s.settings.connection_budget for s in services.values() if not s.external]
    if not own:
        raise SuiteError(
            "--pgbouncer: every variant is an external target, which reaches its own "
            "database; nothing would go through the suite's PgBouncer"
        )
    return max(own), sum(own)


def _statement_cache(
    services: dict[str, ServiceUnderTest], bouncer: pgbouncer.PgBouncer | None, url: str
) -> PgBouncerInfo:
    """Every variant gets the database URL it must use (PgBouncer's when on) and the
    prepared-statement setting in force there (``auto`` resolved: asyncpg's caches off
    behind a PgBouncer that does not track prepared statements, else on)."""
    requested = next(iter(services.values())).settings.statement_cache
    in_force = pgbouncer.resolve_statement_cache(
        requested, bouncer.tracks_prepared if bouncer else None
    )
    for service in services.values():
        service.through(bouncer.url() if bouncer else url, {"DB_STATEMENT_CACHE": in_force.value})
    described = bouncer.describe() if bouncer else {"enabled": False}
    cache = StatementCacheInfo(requested=requested.value, in_force=in_force.value)
    return PgBouncerInfo(**described, statement_cache=cache)
