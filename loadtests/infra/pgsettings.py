"""The PostgreSQL settings the suite runs the embedded server with, in one place.

They trade durability for stable measurements: a benchmark database is rebuilt from
its seed template before every service's run, so a lost commit on power failure costs
nothing, while an fsync per commit would add disk noise unrelated to either service.
Reports read the values back from the running server (``pg_settings``), so what they
show is what ran, also on a server given through ``DATABASE_URL``.
"""

# Upper bound on every connection the suite opens at once: the service pools (the CLI
# refuses budgets above this), PgBouncer's server pool, and a few admin connections.
MAX_CONNECTIONS = 200

BENCHMARK_SETTINGS: dict[str, str] = {
    "max_connections": str(MAX_CONNECTIONS),
    "shared_buffers": "256MB",  # the default seed (~60 MB) stays in memory
    "synchronous_commit": "off",  # commits do not wait for the WAL flush
    "checkpoint_timeout": "30min",  # no checkpoint storm in the middle of a step
    "max_wal_size": "4GB",
    "jit": "off",  # JIT compilation of the aggregate read adds multi-ms outliers
    "random_page_cost": "1.1",
    "effective_cache_size": "1GB",
    # Counts statements per endpoint so a report can show both services do equal work.
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
}

# Read back for reports, whichever server the suite talks to.
REPORTED_SETTINGS = (
    *BENCHMARK_SETTINGS,
    "fsync",
    "work_mem",
    "io_method",
    "server_version",
    "max_prepared_transactions",
)


def config_file(port: int, max_connections: int | None = None) -> str:
    """The postgresql.conf fragment the embedded server starts with (``max_connections``
    raised when a run's pools need more, see loadtests/run/setup.py)."""
    settings = {**BENCHMARK_SETTINGS}
    if max_connections is not None:
        settings["max_connections"] = str(max(max_connections, MAX_CONNECTIONS))
    lines = [
        "# written by loadtests on every start; edit loadtests/infra/pgsettings.py instead",
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        "unix_socket_directories = ''",  # TCP only: no socket-path length or permission issues
    ]
    lines += [f"{name} = '{value}'" for name, value in settings.items()]
    return "\n".join(lines) + "\n"
