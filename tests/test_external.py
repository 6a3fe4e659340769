"""External targets: services the suite drives but does not start (`--target NAME=URL`,
`url = ...` in a variants file). A run against one completes with what it could not
measure named; a target that answers unlike the baseline stops the run with one line
before any load; a URL's password never reaches a line, a report or results.json."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from loadtests.infra.ports import free_port
from loadtests.results import store
from tests.conftest import start_service
from tests.helpers import cli_env, one_line_error, only_run_dir, run_cli

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
