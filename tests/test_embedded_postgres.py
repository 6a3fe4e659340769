"""`python -m loadtests db up|down|status|url`: the embedded server's life cycle and errors."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg2
import pytest

from tests.helpers import cli_env, one_line_error, run_cli

ROOT = os.geteuid() == 0


def _postmasters(data_dir: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and data_dir in (proc.info["cmdline"] or []):
            found.append(proc)
    return found


@pytest.fixture
def reachable_state() -> Iterator[Path]:
    """A fresh state directory every account can traverse (created by the test, not chmod-ed
    on anybody else's behalf)."""
    parent = Path(tempfile.mkdtemp(prefix="loadtests-test-", dir="/tmp"))
    parent.chmod(0o755)
    state = parent / "state"
    yield state
    run_cli("db", "destroy", env=cli_env(state))
    for path in sorted(parent.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    parent.rmdir()


@pytest.mark.slow  # the server started and stopped again: the full tier
def test_up_status_url_down_cycle(reachable_state: Path) -> None:
    env = cli_env(reachable_state)

    status = run_cli("db", "status", env=env)
    assert status.returncode == 1
    assert "not running" in status.stdout

    up = run_cli("db", "up", env=env)
    assert up.returncode == 0, up.stderr
    match = re.search(
        r"started: PostgreSQL (\d+\.\d+) on 127\.0\.0\.1:(\d+) \(pid (\d+)", up.stdout
    )
    assert match, up.stdout
    version, port, pid = match.group(1), int(match.group(2)), int(match.group(3))
    assert version.startswith("18.")
    assert "***" in up.stdout, "the password must not be printed by `up`"

    again = run_cli("db", "up", env=env)
    assert again.returncode == 0
    assert f"already running: PostgreSQL {version} on 127.0.0.1:{port} (pid {pid}" in again.stdout

    status = run_cli("db", "status", env=env)
    assert status.returncode == 0
    assert f"127.0.0.1:{port}" in status.stdout and "seeded: no" in status.stdout

    url = run_cli("db", "url", env=env).stdout.strip()
    assert url.startswith("postgresql://postgres:") and url.endswith(f"@127.0.0.1:{port}/bench")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SHOW synchronous_commit")
        assert cur.fetchone()[0] == "off"
        cur.execute("SHOW max_connections")
        assert int(cur.fetchone()[0]) >= 100

    down = run_cli("db", "down", env=env)
    assert down.returncode == 0 and f"stopped: PostgreSQL {version}" in down.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert run_cli("db", "down", env=env).stdout.startswith("not running")
    assert run_cli("db", "status", env=env).returncode == 1


def _recovers(url: str, within: float) -> float:
    """Seconds until ``url`` answers 200 again; fails after ``within``."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=within).status_code == 200:
                return time.monotonic() - started
        assert time.monotonic() - started < within, f"{url} did not recover in {within} s"
        time.sleep(0.1)


@pytest.mark.slow  # the server started and stopped again: the full tier
@pytest.mark.alone
def test_restart_keeps_the_port_and_running_services_recover(two, embedded, state_dir) -> None:
    """`db down` then `db up` under running services: same port, so they reconnect."""
    env = cli_env(state_dir)
    port = embedded.status().port
    for service in two.values():
        assert httpx.get(f"{service.url}/users/1").status_code == 200
    assert run_cli("db", "down", env=env).returncode == 0
    up = run_cli("db", "up", env=env)
    assert up.returncode == 0, up.stderr
    assert "started: PostgreSQL 18." in up.stdout and f"127.0.0.1:{port} " in up.stdout
    assert "moved" not in up.stdout
    assert embedded.status().port == port
    for service in two.values():
        _recovers(f"{service.url}/users/1", within=5)


@pytest.mark.slow  # the server started and stopped again: the full tier
def test_taken_port_moves_with_a_one_line_notice(running, embedded, state_dir) -> None:
    env = cli_env(state_dir)
    port = embedded.status().port
    assert run_cli("db", "down", env=env).returncode == 0
    try:
        with socket.socket() as squatter:
            # SO_REUSEADDR: the server's closed connections linger in TIME_WAIT on the port
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            up = run_cli("db", "up", env=env)
            assert up.returncode == 0, up.stderr
            moved = embedded.status().port
            assert moved != port
            first, *rest = up.stdout.splitlines()
            assert first == (
                f"port {port} is in use now, so PostgreSQL moved to port {moved}: "
                "restart services that use the old URL"
            )
            assert rest[0].startswith("started: PostgreSQL 18.") and f":{moved} " in rest[0]
            assert not any("moved" in line for line in rest)
    finally:  # back on the port the session's services use
        embedded.down()
        embedded.up(port)
    assert "moved" not in run_cli("db", "up", env=env).stdout  # already running: no notice


def test_port_in_use_is_a_one_line_error(reachable_state: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_line_error(
            run_cli("db", "up", "--port", str(port), env=cli_env(reachable_state))
        )
    assert f"port {port}" in line and "in use" in line


def test_missing_binary_is_a_one_line_error(reachable_state: Path) -> None:
    env = cli_env(reachable_state, LOADTESTS_PG_BINDIR="/nonexistent/bin")
    line = one_line_error(run_cli("db", "up", env=env))
    assert "binary not found" in line and "/nonexistent/bin/postgres" in line


@pytest.mark.slow  # the server started and stopped again: the full tier
def test_stale_pid_files(reachable_state: Path) -> None:
    env = cli_env(reachable_state)
    assert run_cli("db", "up", env=env).returncode == 0
    assert run_cli("db", "down", env=env).returncode == 0
    pid_file = reachable_state / "pgdata" / "postmaster.pid"

    # A pid file left by a server that died: nothing runs on it, so `up` cleans it up.
    dead = psutil.Popen(["true"])
    dead.wait()
    pid_file.write_text(
        f"{dead.pid}\n{reachable_state / 'pgdata'}\n0\n5432\n\n127.0.0.1\n\nready\n"
    )
    up = run_cli("db", "up", env=env)
    assert up.returncode == 0, up.stderr
    assert run_cli("db", "down", env=env).returncode == 0

    # A pid file naming a live process that is not this data directory's server.
    pid_file.write_text(
        f"{os.getpid()}\n{reachable_state / 'pgdata'}\n0\n5432\n\n127.0.0.1\n\nready\n"
    )
    line = one_line_error(run_cli("db", "up", env=env))
    assert "stale pid file" in line and str(os.getpid()) in line
    pid_file.unlink()


@pytest.mark.skipif(not ROOT, reason="the unprivileged path is taken only when running as root")
@pytest.mark.slow  # the server started and stopped again: the full tier
def test_root_runs_postgres_as_an_unprivileged_account(reachable_state: Path) -> None:
    env = cli_env(reachable_state)
    assert run_cli("db", "up", env=env).returncode == 0
    data_dir = str(reachable_state / "pgdata")
    (postmaster,) = _postmasters(data_dir)
    nobody = pwd.getpwnam("nobody")
    assert postmaster.uids().real == nobody.pw_uid
    st = Path(data_dir).stat()
    assert st.st_uid == nobody.pw_uid and stat.S_IMODE(st.st_mode) == 0o700
    assert "running as nobody" in run_cli("db", "status", env=env).stdout


@pytest.mark.skipif(not ROOT, reason="the unprivileged path is taken only when running as root")
@pytest.mark.slow  # the server started and stopped again: the full tier
def test_state_dir_under_a_private_home_is_left_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    state = home / "project" / ".loadtests"
    env = cli_env(state)
    try:
        up = run_cli("db", "up", env=env)
        assert up.returncode == 0, up.stderr
        data_dir = re.search(r"data (\S+?)[,)]", up.stdout).group(1)
        assert data_dir.startswith("/var/tmp/loadtests-"), up.stdout
        assert _postmasters(data_dir), "the server runs from the reachable copy"
        assert stat.S_IMODE(home.stat().st_mode) == 0o700, "the home directory was chmod-ed"
    finally:
        assert run_cli("db", "destroy", env=env).returncode == 0
    assert not Path(data_dir).exists()


def test_unknown_daemon_account_is_a_one_line_error(reachable_state: Path) -> None:
    if not ROOT:
        pytest.skip("the daemon account is only used when running as root")
    env = cli_env(reachable_state, LOADTESTS_RUN_AS="no-such-user-here")
    assert "no-such-user-here" in one_line_error(run_cli("db", "up", env=env))


@pytest.mark.slow  # the server started and stopped again: the full tier
def test_database_url_is_used_and_nothing_is_started(seeded, tmp_path: Path) -> None:
    from services.common.urls import with_database

    url = with_database(seeded.url, "bench_external")
    env = cli_env(tmp_path / "unused-state", DATABASE_URL=url)

    up = run_cli("db", "up", env=env)
    assert up.returncode == 0 and "DATABASE_URL is set" in up.stdout
    assert not (tmp_path / "unused-state" / "postgres.json").exists()

    seed = run_cli("db", "seed", "--users", "20", "--customers", "10", "--products", "5",
                   "--orders", "30", env=env)  # fmt: skip
    assert seed.returncode == 0, seed.stderr
    assert "users 20" in seed.stdout and "orders 30" in seed.stdout

    status = run_cli("db", "status", env=env)
    assert status.returncode == 0 and "reachable: PostgreSQL" in status.stdout
    assert "users 20" in status.stdout
    assert run_cli("db", "url", env=env).stdout.strip() == url
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        assert cur.fetchone()[0] == 30
    assert "does not stop" in run_cli("db", "down", env=env).stdout


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://nobody:secret@127.0.0.1:1/bench", "cannot connect"),
        ("mysql://root@127.0.0.1/bench", "must be a postgresql:// URL"),
        ("not a url at all", "not a valid URL"),
    ],
)
def test_bad_database_url_is_a_one_line_error(url: str, expected: str, tmp_path: Path) -> None:
    line = one_line_error(run_cli("db", "status", env=cli_env(tmp_path, DATABASE_URL=url)))
    assert expected in line
    assert "secret" not in line, "passwords never appear in messages"


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert "invalid choice" in one_line_error(run_cli("db", "launch", env=env))
    assert "invalid int value" in one_line_error(run_cli("db", "up", "--port", "http", env=env))
    assert "between 1 and 65535" in one_line_error(run_cli("db", "up", "--port", "70000", env=env))
