"""An optional PgBouncer in transaction pooling mode between the services and PostgreSQL.

The binary comes from ``PGBOUNCER_BIN`` or ``PATH`` (Debian and Ubuntu put it in
/usr/sbin, which is searched too). It listens on a free port on 127.0.0.1, runs as the
unprivileged account when the suite is root (PgBouncer refuses root, like PostgreSQL),
and reads its effective settings back through its admin console so that reports show
what actually ran.

Prepared statements are the catch: in transaction mode a named statement prepared on
one server connection is unknown on the next one. PgBouncer 1.21 added
``max_prepared_statements`` to track them (on by default since 1.24). ``statement_cache``
decides what the FastAPI service's asyncpg may do behind the PgBouncer that runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy.engine import URL, make_url

from loadtests.errors import SuiteError
from loadtests.infra import postgres
from loadtests.infra.ports import LOOPBACK, free_port
from loadtests.infra.privileges import daemon_account
from loadtests.infra.processes import Supervised
from services.common.settings import StatementCache

INSTALL_HINT = (
    "install it (Debian/Ubuntu: `sudo apt-get install pgbouncer`, macOS: `brew install "
    "pgbouncer`) or set PGBOUNCER_BIN to its path"
)
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin", "/usr/local/bin")
TRACKS_PREPARED_FROM = (1, 21)
PREPARED_DEFAULT_ON_FROM = (1, 24)
MAX_PREPARED_STATEMENTS = 200
POOL_MODE = "transaction"
START_TIMEOUT_S = 15.0


def find_binary() -> Path:
    configured = os.environ.get("PGBOUNCER_BIN", "").strip()
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SuiteError(f"PGBOUNCER_BIN={configured} is not an executable file")
        return path
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path=os.pathsep.join(SBIN_DIRS))
    if not found:
        raise SuiteError(f"PgBouncer not found: {INSTALL_HINT}")
    return Path(found)


def version_of(binary: Path) -> tuple[int, ...]:
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    match = re.search(r"PgBouncer (\d+)\.(\d+)(?:\.(\d+))?", result.stdout + result.stderr)
    if not match:
        raise SuiteError(f"cannot read the PgBouncer version from `{binary} --version`")
    return tuple(int(part) for part in match.groups() if part is not None)


def resolve_statement_cache(
    requested: StatementCache, tracks_prepared: bool | None
) -> StatementCache:
    """What asyncpg may do: ``auto`` turns the cache off only behind a transaction-mode
    PgBouncer that does not track prepared statements (``tracks_prepared`` is None when
    there is no PgBouncer)."""
    if requested is not StatementCache.auto:
        return requested
    if tracks_prepared is False:
        return StatementCache.off
    return StatementCache.on


@dataclass
class PgBouncer:
    """A running PgBouncer in front of ``upstream`` (a postgresql:// URL)."""

    binary: Path
    version: tuple[int, ...]
    upstream: str
    port: int
    pool_size: int
    process: Supervised
    directory: Path
    settings: dict[str, str]

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    @property
    def tracks_prepared(self) -> bool:
        return int(self.settings.get("max_prepared_statements", "0") or 0) > 0

    def url(self) -> str:
        """The upstream URL with host and port replaced by PgBouncer's."""
        return (
            make_url(self.upstream)
            .set(host=LOOPBACK, port=self.port)
            .render_as_string(hide_password=False)
        )

    def describe(self) -> dict[str, Any]:
        prepared = self.settings.get("max_prepared_statements")
        return {
            "enabled": True,
            "version": self.version_text,
            "pool_mode": self.settings.get("pool_mode", POOL_MODE),
            "default_pool_size": int(self.settings.get("default_pool_size", self.pool_size)),
            "max_client_conn": int(self.settings.get("max_client_conn", 0)),
            "max_prepared_statements": int(prepared) if prepared is not None else None,
            "tracks_prepared_statements": self.tracks_prepared,
            "port": self.port,
        }

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _config(
    upstream: URL,
    port: int,
    pool_size: int,
    version: tuple[int, ...],
    directory: Path,
    clients: int,
) -> str:
    lines = [
        "; written by loadtests for one run; see loadtests/infra/pgbouncer.py",
        "[databases]",
        f"* = host={upstream.host} port={upstream.port or 5432}",
        "[pgbouncer]",
        f"listen_addr = {LOOPBACK}",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        f"auth_file = {directory / 'userlist.txt'}",
        f"admin_users = {upstream.username}",
        f"pool_mode = {POOL_MODE}",
        # The same server-side budget as the services' own pools: PgBouncer multiplexes
        # but never gives one service fewer connections than the other.
        f"default_pool_size = {pool_size}",
        "min_pool_size = 0",
        "reserve_pool_size = 0",
        # Every variant's pool is connected at once while they take turns.
        f"max_client_conn = {max(clients, pool_size) * 2 + 20}",
        f"max_db_connections = {pool_size}",
        "server_reset_query = DISCARD ALL",
        "ignore_startup_parameters = extra_float_digits",
        "log_connections = 0",
        "log_disconnections = 0",
        "stats_period = 60",
    ]
    if version >= TRACKS_PREPARED_FROM:
        lines.append(f"max_prepared_statements = {MAX_PREPARED_STATEMENTS}")
    return "\n".join(lines) + "\n"


def start(
    upstream: str,
    pool_size: int,
    log_path: Path,
    cpus: list[int] | None = None,
    clients: int = 0,
) -> PgBouncer:
    """Start PgBouncer in front of ``upstream``; return once its admin console answers."""
    binary = find_binary()
    version = version_of(binary)
    url = make_url(upstream)
    if not url.username or url.password is None:
        raise SuiteError("PgBouncer needs a database URL with a user name and a password")
    run_as = daemon_account()
    port = free_port()
    directory = postgres.layout().runtime_dir / f"pgbouncer-{port}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "userlist.txt").write_text(f'"{url.username}" "{url.password}"\n')
    (directory / "pgbouncer.ini").write_text(
        _config(url, port, pool_size, version, directory, clients)
    )
    for path in (directory, directory / "userlist.txt", directory / "pgbouncer.ini"):
        path.chmod(0o700 if path.is_dir() else 0o600)
        if run_as:
            run_as.chown(path)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    process = Supervised(
        "pgbouncer", [str(binary), str(directory / "pgbouncer.ini")], env, log_path, cpus,
        run_as=run_as,
    )  # fmt: skip
    bouncer = PgBouncer(binary, version, upstream, port, pool_size, process, directory, {})
    try:
        bouncer.settings = _wait_for_console(bouncer, url)
    except BaseException:
        bouncer.stop()
        raise
    return bouncer


def _wait_for_console(bouncer: PgBouncer, url: URL) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT_S
    error = "no answer"
    while time.monotonic() < deadline:
        if not bouncer.process.alive():
            raise SuiteError(f"PgBouncer exited at start: {bouncer.process.log_tail(3)}")
        try:
            conn = psycopg2.connect(
                host=LOOPBACK, port=bouncer.port, dbname="pgbouncer", user=url.username,
                password=url.password, connect_timeout=2,
            )  # fmt: skip
        except psycopg2.OperationalError as exc:
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
            time.sleep(0.2)
            continue
        with contextlib.closing(conn):
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SHOW CONFIG")
                assert cur.description is not None  # SHOW returns rows, so it has columns
                names = [column.name for column in cur.description]
                return {
                    row[names.index("key")]: str(row[names.index("value")])
                    for row in cur.fetchall()
                }
    raise SuiteError(f"PgBouncer did not answer within {START_TIMEOUT_S:.0f} s: {error}")
