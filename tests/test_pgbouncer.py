"""PgBouncer in transaction mode: the asyncpg prepared-statement trap, and the safe setting.

With a PgBouncer that cannot track prepared statements (Debian 12's 1.18, installed by
.ci/run), FastAPI with asyncpg's statement cache on fails with "prepared statement ...
does not exist"; with the cache off (what `auto` chooses there) it does not; Flask
(psycopg2, no prepared statements) never does.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import psutil
import psycopg2
import pytest

from loadtests.errors import SuiteError
from loadtests.infra import pgbouncer
from loadtests.report import compare_page
from loadtests.results import store
from services.common.settings import StatementCache
from tests.helpers import cli_env, one_line_error, run_cli

try:
    BINARY = pgbouncer.find_binary()
    VERSION = pgbouncer.version_of(BINARY)
except SuiteError:  # no PgBouncer here: the tests that need one are skipped
    BINARY, VERSION = None, ()

needs_pgbouncer = pytest.mark.skipif(BINARY is None, reason="PgBouncer is installed by .ci/run")
TINY = ["--scenario", "mixed", "--services", "flask,fastapi", "--steps", "5", "--step-seconds", "4",
        "--warmup-seconds", "2", "--blocks", "1", "--cross-check", "off", "--no-ceiling"]  # fmt: skip


def _run(state_dir: Path, out: Path, *args: str) -> dict:
    result = run_cli(
        "run", "--pgbouncer", *TINY, "--out", str(out), *args, env=cli_env(state_dir), timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and (p / "results.json").exists()]
    return store.load(run_dir)


@pytest.fixture(scope="module")
def trap_and_safe(seeded, state_dir, tmp_path_factory) -> tuple[dict, dict]:
    trap = _run(state_dir, tmp_path_factory.mktemp("trap"), "--statement-cache", "on")
    safe = _run(state_dir, tmp_path_factory.mktemp("safe"))  # DB_STATEMENT_CACHE=auto
    return trap, safe


@needs_pgbouncer
def test_pgbouncer_is_recorded(trap_and_safe) -> None:
    for data in trap_and_safe:
        bouncer = data.pgbouncer
        assert bouncer.enabled and bouncer.pool_mode == "transaction"
        assert bouncer.version == ".".join(map(str, VERSION))
        assert bouncer.default_pool_size == 20, "the services' own connection budget"
    trap, safe = trap_and_safe
    assert trap.pgbouncer.statement_cache.model_dump() == {"requested": "on", "in_force": "on"}
    expected = "off" if VERSION < pgbouncer.TRACKS_PREPARED_FROM else "on"
    assert safe.pgbouncer.statement_cache.model_dump() == {
        "requested": "auto",
        "in_force": expected,
    }
    assert safe.variants["fastapi"].settings["DB_STATEMENT_CACHE"] == expected


@needs_pgbouncer
@pytest.mark.skipif(
    VERSION >= pgbouncer.TRACKS_PREPARED_FROM, reason="this PgBouncer tracks statements"
)
def test_asyncpg_defaults_fail_behind_transaction_pooling(trap_and_safe) -> None:
    trap, _ = trap_and_safe
    (fastapi,) = trap.scenarios["mixed"].runs_of("fastapi")
    (flask,) = trap.scenarios["mixed"].runs_of("flask")
    step = fastapi.steps[0]
    by_kind = step.failures.by_kind
    assert by_kind.get("http_500", 0) > 0.2 * step.requests, by_kind
    failures = {f.failure: f.count for f in fastapi.service_failures}
    assert any("prepared statement" in kind and "does not exist" in kind for kind in failures), (
        failures
    )
    assert flask.steps[0].failures.count == 0
    assert flask.service_failures == []


@needs_pgbouncer
def test_safe_setting_has_no_errors(trap_and_safe) -> None:
    _, safe = trap_and_safe
    for outcome in safe.scenarios["mixed"].runs:
        assert outcome.status == "complete"
        step = outcome.steps[0]
        assert step.failures.count == 0, (outcome.variant, step.failures.by_kind)
        assert outcome.service_failures == []


@needs_pgbouncer
def test_compare_shows_the_difference(trap_and_safe, tmp_path) -> None:
    trap, safe = trap_and_safe
    context = compare_page.view(safe, trap)
    setup = {row["label"]: row for row in context["setup"]}
    assert setup["asyncpg prepared statements"]["differs"]
    rows = context["scenarios"][0]["rows"]
    fastapi = next(r for r in rows if r["variant"] == "fastapi")
    errors = next(c for c in fastapi["cells"] if c["metric"].key == "error_rate")
    assert errors["a"] == 0 and errors["b"] > 0.2


@needs_pgbouncer
def test_pgbouncer_runs_unprivileged_and_stops(seeded, tmp_path) -> None:
    bouncer = pgbouncer.start(seeded.url, 5, tmp_path / "pgbouncer.log")
    try:
        proc = psutil.Process(bouncer.process.pid)
        if os.geteuid() == 0:
            assert proc.uids().real != 0
        assert bouncer.settings["pool_mode"] == "transaction"
        with psycopg2.connect(bouncer.url()) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM users")
            assert cur.fetchone()[0] > 0
    finally:
        bouncer.stop()
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    assert not bouncer.directory.exists(), "its config and password file are removed"


def test_missing_pgbouncer_stops_the_run_before_anything_starts(tmp_path) -> None:
    state = tmp_path / "state"
    env = cli_env(state, PGBOUNCER_BIN=str(tmp_path / "no-pgbouncer"))
    line = one_line_error(run_cli("run", "--pgbouncer", "--out", str(tmp_path / "out"), env=env))
    assert "PGBOUNCER_BIN" in line and "not an executable file" in line
    assert not (tmp_path / "out").exists() and not (state / "postgres.json").exists()


def test_not_found_message_says_how_to_install(monkeypatch) -> None:
    monkeypatch.delenv("PGBOUNCER_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(pgbouncer, "SBIN_DIRS", ())
    with pytest.raises(Exception) as caught:
        pgbouncer.find_binary()
    assert "apt-get install pgbouncer" in str(caught.value) and "brew install" in str(caught.value)


@pytest.mark.parametrize(
    ("requested", "tracks", "expected"),
    [
        ("auto", None, "on"),  # no PgBouncer
        ("auto", False, "off"),  # PgBouncer < 1.21 (or max_prepared_statements = 0)
        ("auto", True, "on"),  # PgBouncer >= 1.21 tracking prepared statements
        ("on", False, "on"),  # the trap, on purpose
        ("off", None, "off"),
    ],
)
def test_statement_cache_resolution(requested, tracks, expected) -> None:
    assert pgbouncer.resolve_statement_cache(StatementCache(requested), tracks).value == expected


@needs_pgbouncer
def test_results_schema_accepts_a_pgbouncer_run(trap_and_safe) -> None:
    for data in trap_and_safe:
        assert store.parse(json.loads(data.model_dump_json())) == data


def test_pgbouncer_binary_is_found_in_sbin(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "pgbouncer"
    fake.write_text("#!/bin/sh\necho 'PgBouncer 1.24.1'\n")
    fake.chmod(0o755)
    monkeypatch.delenv("PGBOUNCER_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(pgbouncer, "SBIN_DIRS", (str(tmp_path),))
    assert pgbouncer.find_binary() == fake
    assert pgbouncer.version_of(fake) == (1, 24, 1)
    shutil.rmtree(tmp_path, ignore_errors=True)
