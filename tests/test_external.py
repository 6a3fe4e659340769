"""External targets: services the suite drives but does not start (`--target NAME=URL`,
`url = ...` in a variants file). A run against one completes with what it could not
measure named; a target that answers unlike the baseline stops the run with one line
before any load; a URL's password never reaches a line, a report or results.json. A
database role that may not reset the database runs on the data as it stands, said once
and marked."""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from loadtests.errors import SuiteError
from loadtests.infra import database
from loadtests.infra.cpu import CpuLayout
from loadtests.infra.ports import free_port
from loadtests.report import run_page
from loadtests.results import store
from loadtests.run.service import ServiceUnderTest
from loadtests.run.setup import bouncer_sizes
from loadtests.variants import BUILTIN
from tests.conftest import start_service
from tests.helpers import cli_env, one_line_error, only_run_dir, run_cli

NO_PINNING = CpuLayout(False, (), (), "")
QUICK = ("--scenario", "get-user", "--steps", "10", "--blocks", "2", "--step-seconds", "4",
         "--warmup-seconds", "2", "--no-ceiling", "--cross-check", "off")  # fmt: skip


@pytest.mark.slow
def test_a_run_against_an_external_target_names_what_it_could_not_measure(
    seeded, state_dir, tmp_path
):
    outside = start_service("fastapi", seeded, tmp_path)  # started by someone else
    try:
        out = tmp_path / "reports"
        result = run_cli(
            "run", *QUICK, "--services", "flask,fastapi", "--target", f"fastapi={outside.url}",
            "--out", str(out), env=cli_env(state_dir), timeout=180,
        )  # fmt: skip
        assert outside.alive(), "the suite must not stop a service it did not start"
    finally:
        outside.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"external target at {outside.url}" in result.stdout
    data = store.load(only_run_dir(out))
    assert data.variants["fastapi"].external_url == outside.url
    assert data.variants["flask"].external_url is None
    runs = {run.variant: run for run in data.scenarios["get-user"].runs}
    (external_step,) = runs["fastapi"].steps
    (local_step,) = runs["flask"].steps
    assert external_step.successes > 0 and external_step.failures.count == 0
    assert external_step.cpu is not None and external_step.cpu.service_percent is None
    assert local_step.cpu is not None and local_step.cpu.service_percent is not None
    page = (only_run_dir(out) / "index.html").read_text()
    assert "is an external target at" in page and "pinning are not measured" in page


class _Unlike(http.server.BaseHTTPRequestHandler):
    """Healthy, but its users are shaped otherwise."""

    def do_GET(self) -> None:
        body = {"status": "ok"} if self.path == "/health" else {"user": 1}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.slow
def test_a_target_that_answers_unlike_the_baseline_stops_the_run_before_any_load(
    seeded, state_dir, tmp_path
):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Unlike)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_cli(
            "run", *QUICK, "--services", "flask,fastapi", "--target", f"fastapi={url}",
            "--out", str(tmp_path), env=cli_env(state_dir), timeout=120,
        )  # fmt: skip
    finally:
        server.shutdown()
    line = one_line_error(result)
    assert f"FastAPI at {url} answers unlike Flask: GET /users/1 gave a body shaped" in line
    assert 'the baseline\'s {"active": "bool"' in line
    locust = list(Path(tmp_path).glob("*/locust/*.json"))
    assert not locust, "no load may start before the probe passes"


def test_a_target_password_is_never_shown(seeded, state_dir, tmp_path):
    url = f"http://someone:s3cret@127.0.0.1:{free_port()}"
    result = run_cli(
        "run", *QUICK, "--services", "flask,fastapi", "--target", f"fastapi={url}",
        "--out", str(tmp_path), env=cli_env(state_dir), timeout=120,
    )  # fmt: skip
    line = one_line_error(result)
    assert "someone:***@127.0.0.1" in line and "carries a password" in line
    assert "s3cret" not in line and "s3cret" not in result.stdout
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert "s3cret" not in path.read_text(errors="replace"), path


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--target", "fastapi"], "--target must be NAME=URL"),
        (["--target", "nope=http://127.0.0.1:1"], "--target: unknown variant 'nope'"),
        (["--target", "fastapi=ftp://127.0.0.1:1"], "must be http(s)://HOST[:PORT]"),
        (["--target", "fastapi=http://127.0.0.1:1/?x=1"], "takes no query or fragment"),
        (["--target", "fastapi=http://127.0.0.1:99999"], "bad port"),
        (["--target", "fastapi=http://u:pw@[::1"], "--target"),
    ],
)
def test_bad_targets_are_one_line(args, said, state_dir, tmp_path):
    result = run_cli("run", *QUICK, "--services", "flask,fastapi", *args, "--out",
                     str(tmp_path), env=cli_env(state_dir))  # fmt: skip
    line = one_line_error(result)
    assert said in line and "pw@" not in line
    assert not any(tmp_path.iterdir())


def test_a_variants_file_target_takes_no_settings(state_dir, tmp_path):
    variants = tmp_path / "v.toml"
    variants.write_text(
        '["mine"]\nservice = "flask"\nurl = "http://127.0.0.1:8000"\n'
        "settings = { DB_POOL_SIZE = 5 }\n"
    )
    result = run_cli("run", "--variants", str(variants), "--services", "flask,mine",
                     env=cli_env(state_dir))  # fmt: skip
    assert "settings do not apply to an external target" in one_line_error(result)


LIMITED = "loadtests_limited"


@pytest.fixture
def limited_url(seeded):
    """DATABASE_URL for a role that may read and write the tables but not create, drop or
    own a database, as on a shared or managed server."""
    database.reset(seeded)  # a fresh copy to grant on
    with database.connect(seeded.url) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {LIMITED} LOGIN PASSWORD 'limited' NOCREATEDB")
        tables = "SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public"
        cur.execute(f"GRANT {tables} TO {LIMITED}")
        cur.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {LIMITED}")
    try:
        url = make_url(seeded.url).set(username=LIMITED, password="limited")
        yield url.render_as_string(hide_password=False)
    finally:
        database.reset(seeded)  # the next test's data is the seed's again
        with database.connect(seeded.url) as conn, conn.cursor() as cur:
            cur.execute(f"DROP ROLE {LIMITED}")


def _renamed(url: str) -> int:
    with database.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE name LIKE 'user %'")
        (count,) = cur.fetchone()
        return int(count)


@pytest.mark.slow
def test_a_role_that_may_not_reset_runs_on_the_data_as_it_stands(
    seeded, state_dir, tmp_path, limited_url
):
    """select-update, then get-user, with the ceiling: no reset anywhere (the renames of
    the first scenario are still there after the run), said once, marked in every
    scenario's results, heading and ceiling note, and in the trust panel."""
    out = tmp_path / "reports"
    result = run_cli(
        "run", "--scenario", "select-update,get-user", "--services", "flask,fastapi",
        "--steps", "5", "--blocks", "1", "--step-seconds", "4", "--warmup-seconds", "1",
        "--cross-check", "off", "--out", str(out),
        env=cli_env(state_dir, DATABASE_URL=limited_url), timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.count("cannot be reset here") == 1, result.stdout
    assert f"role '{LIMITED}' may not create databases" in result.stdout
    assert "limited@" not in result.stdout + result.stderr, "the password stays masked"
    assert _renamed(seeded.url) > 100, "select-update's writes were never reset away"
    run_dir = only_run_dir(out)
    data = store.load(run_dir)
    for scenario in data.scenarios.values():
        assert scenario.reset_refused is not None and "CREATEDB" in scenario.reset_refused
        assert scenario.ceiling is not None and "on data not reset" in (scenario.ceiling.note or "")
        assert all(run.status == "complete" for run in scenario.runs)
    html = run_page.build(run_dir).read_text()
    assert html.count("database not reset</span>") == 2
    assert "The database was not reset" in html and "select-update, get-user ran" in html


def test_who_may_reset_is_asked_of_the_server(seeded, limited_url) -> None:
    """The superuser may; a role that may create databases but does not own this one may
    not, and the reason names the database."""
    assert database.reset_blocker(seeded) is None
    limited = database.Target(url=limited_url, embedded=None)
    assert "no CREATEDB" in (database.reset_blocker(limited) or "")
    with database.connect(seeded.url) as conn, conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {LIMITED} CREATEDB")
    assert database.reset_blocker(limited) == f"role '{LIMITED}' does not own database 'bench'"


def test_a_role_that_may_not_seed_gets_one_line(seeded, state_dir, limited_url):
    result = run_cli("db", "seed", env=cli_env(state_dir, DATABASE_URL=limited_url))
    line = one_line_error(result)
    assert "must be owner of database" in line and "lacks a privilege" in line, line
    assert "limited@" not in line


def test_pgbouncer_is_sized_for_the_services_the_suite_starts(seeded):
    """A target reaches its own database: its pool is not PgBouncer's to hold, and with
    nothing but targets there is nothing to route through it."""
    local = ServiceUnderTest.prepare(BUILTIN["flask"], seeded.url, NO_PINNING, {})
    target = ServiceUnderTest.prepare(
        replace(BUILTIN["fastapi"], url="http://127.0.0.1:9"), seeded.url, NO_PINNING, {}
    )
    assert target.external and not local.external
    assert target.connection_budget() == 0
    own = local.settings.connection_budget
    assert bouncer_sizes({"flask": local, "fastapi": target}) == (own, own)
    assert bouncer_sizes({"flask": local}) == (own, own)
    with pytest.raises(SuiteError, match="every variant is an external target"):
        bouncer_sizes({"fastapi": target})
