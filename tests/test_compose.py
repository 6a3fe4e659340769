"""docker-compose.yml and the Dockerfiles: validated and cross-checked with the code
(no Docker engine runs here, so the stack itself is not started)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from loadtests.infra import pgsettings
from services.common.settings import read_by
from tests.helpers import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose")

# Variables the official postgres image reads (the subset this stack sets).
POSTGRES_IMAGE_ENV = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
# Variables edoburu/pgbouncer's entrypoint turns into pgbouncer.ini (its documented set).
PGBOUNCER_IMAGE_ENV = {
    "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "AUTH_TYPE", "POOL_MODE",
    "DEFAULT_POOL_SIZE", "MAX_DB_CONNECTIONS", "MAX_CLIENT_CONN", "MAX_PREPARED_STATEMENTS",
    "IGNORE_STARTUP_PARAMETERS", "ADMIN_USERS", "LISTEN_PORT",
}  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose is installed by .ci/run")
@pytest.mark.parametrize(
    "args",
    [[], ["--profile", "pgbouncer"], ["--profile", "load"], ["--profile", "pgbouncer", "--profile", "load"],
     ["-f", "docker-compose.yml", "-f", "compose.db-port.yml"]],
    ids=["default", "pgbouncer", "load", "pgbouncer+load", "db-port"],
)  # fmt: skip
def test_compose_config_is_valid(args) -> None:
    result = subprocess.run(
        [DOCKER_COMPOSE, *args, "config", "-q"], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_profiles_select_the_right_services(compose) -> None:
    # (docker-compose 1.29's `config --services` ignores profiles, so read them here.)
    profiles = {name: tuple(s.get("profiles", ())) for name, s in compose["services"].items()}
    assert profiles == {
        "postgres": (), "seed": (), "flask": (), "fastapi": (),
        "pgbouncer": ("pgbouncer",), "locust-master": ("load",), "locust-worker": ("load",),
    }  # fmt: skip


def test_service_environment_is_exactly_what_the_code_reads(compose) -> None:
    for name in ("flask", "fastapi"):  # derived from each setting's "who reads it"
        env = set(compose["services"][name]["environment"])
        reads = {info.env for info in read_by(name)}
        assert env == reads, (name, env ^ reads)
    seed = compose["services"]["seed"]["environment"]
    assert set(seed) == {"DATABASE_URL"} and "@postgres:5432/" in seed["DATABASE_URL"]
    assert "environment" not in compose["services"]["locust-master"]
    assert "environment" not in compose["services"]["locust-worker"]
    assert set(compose["services"]["postgres"]["environment"]) <= POSTGRES_IMAGE_ENV
    assert set(compose["services"]["pgbouncer"]["environment"]) <= PGBOUNCER_IMAGE_ENV


def test_one_variable_switches_the_services_to_pgbouncer(compose) -> None:
    for name in ("flask", "fastapi"):
        url = compose["services"][name]["environment"]["DATABASE_URL"]
        assert "@${DATABASE_HOST:-postgres}:5432/" in url
    bouncer = compose["services"]["pgbouncer"]
    assert bouncer["profiles"] == ["pgbouncer"]
    assert bouncer["environment"]["POOL_MODE"] == "transaction"
    image, tag = bouncer["image"].split(":")
    version = tuple(int(x) for x in re.match(r"v?(\d+)\.(\d+)\.(\d+)", tag).groups())
    assert image == "edoburu/pgbouncer" and version >= (1, 24, 0), "a pinned tag, 1.24 or later"


def test_postgres_runs_with_the_embedded_servers_settings(compose) -> None:
    command = compose["services"]["postgres"]["command"]
    flags = dict(arg.split("=", 1) for arg in command[1:] if arg != "-c")
    assert flags == pgsettings.BENCHMARK_SETTINGS
    assert "ports" not in compose["services"]["postgres"], "published only with compose.db-port.yml"
    assert compose["services"]["postgres"]["healthcheck"]


def test_dependencies_wait_for_health(compose) -> None:
    for name in ("flask", "fastapi"):
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["seed"]["condition"] == "service_completed_successfully"
    assert compose["services"]["seed"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_nothing_is_published_beyond_loopback_and_no_secret_is_written_in(compose) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    text = COMPOSE.read_text()
    for match in re.finditer(r"(PASSWORD|postgresql://[^:]+:)[^\n]*", text):
        assert "${POSTGRES_PASSWORD:-" in match.group(0), match.group(0)


@pytest.mark.parametrize(
    "dockerfile",
    ["services/flask_sync/Dockerfile", "services/fastapi_async/Dockerfile", "loadtests/Dockerfile"],
)
def test_dockerfiles_reference_paths_that_exist(dockerfile, compose) -> None:
    path = PROJECT_ROOT / dockerfile
    assert any(
        s.get("build", {}).get("dockerfile") == dockerfile for s in compose["services"].values()
    )
    for line in path.read_text().splitlines():
        if line.startswith(("COPY ", "ADD ")):
            for source in line.split()[1:-1]:
                assert (PROJECT_ROOT / source).exists(), (dockerfile, source)
        if line.startswith("CMD "):
            for arg in re.findall(r'"([^"]+)"', line):
                if "/" in arg and not arg.startswith("-"):
                    assert (PROJECT_ROOT / arg).exists(), (dockerfile, arg)
