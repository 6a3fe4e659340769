"""Variants as data: the built-in ones, a user's TOML file, and every way to get it wrong."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loadtests.errors import SuiteError
from loadtests.infra import cpu
from loadtests.run import service
from loadtests.variants import BUILTIN, catalogue, load_file, resolve
from services.common.settings import SETTINGS, ServiceSettings, read_by, values_read
from services.fastapi_async.data.gate import FifoGate
from tests.helpers import cli_env, one_line_error, run_cli


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "variants.toml"
    path.write_text(text)
    return path


def test_builtin_variants_cover_every_stack_the_articles_compare() -> None:
    assert list(BUILTIN) == [
        "flask", "flask:sync", "fastapi", "fastapi:fair", "fastapi:raw", "fastapi:hybrid",
        "fastapi:sync-def", "fastapi:blocking",
    ]  # fmt: skip
    assert [v.name for v in BUILTIN.values() if v.antipattern] == ["fastapi:blocking"]
    assert "ANTI-PATTERN" in BUILTIN["fastapi:blocking"].label
    assert BUILTIN["fastapi:fair"].environment() == {"POOL_QUEUE": "fifo", "DATA_ACCESS": "orm"}


def test_a_users_variant_file(tmp_path) -> None:
    path = _file(
        tmp_path,
        """
["fastapi:pool40"]
service = "fastapi"
settings = { DB_POOL_SIZE = 40, POOL_QUEUE = "fifo" }
description = "a bigger pool"

["flask:threads10"]
service = "flask"
settings = { WEB_THREADS = 10 }
""",
    )
    known = catalogue(path)
    chosen = resolve("flask,fastapi:pool40,flask:threads10", known)
    assert [v.name for v in chosen] == ["flask", "fastapi:pool40", "flask:threads10"]
    pool40 = known["fastapi:pool40"]
    assert pool40.mode.value == "orm" and pool40.settings == {
        "DB_POOL_SIZE": "40",
        "POOL_QUEUE": "fifo",
    }
    assert not pool40.builtin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[a]\nservice = "django"', "service must be one of flask, fastapi"),
        ('[a]\nservice = "fastapi"\nmode = "magic"', "unknown mode 'magic' (known: orm, raw, hybrid"),
        ('[a]\nservice = "flask"\nmode = "raw"', "only the fastapi service has data-access modes"),
        ('[a]\nservice = "flask"\nsettings = { POOL_QUEUE = "fifo" }',
         "flask does not read POOL_QUEUE (it reads: CPU_BURN_MS, DB_CONNECT_TIMEOUT"),
        ('[a]\nservice = "fastapi"\nmode = "orm"\nsettings = { WEB_THREADS = 4 }',
         "fastapi in mode orm does not read WEB_THREADS"),
        ('[a]\nservice = "fastapi"\nsettings = { DB_POOL_SIZE = "lots" }',
         "invalid settings: DB_POOL_SIZE: Input should be a valid integer"),
        ('[a]\nservice = "fastapi"\nsettings = { DATA_ACCESS = "raw" }', "set the data-access mode with `mode`"),
        ('[a]\nservice = "fastapi"\ncolour = "red"', "unknown key 'colour'"),
        ('[flask]\nservice = "flask"', "[flask] is already a built-in variant"),
        ('[a]\nservice = "flask"\n[a]\nservice = "flask"', "is not valid TOML"),
        ("this is not toml", "is not valid TOML"),
        ("", "defines no variant"),
    ],
)  # fmt: skip
def test_bad_variant_files_are_refused_with_one_line(tmp_path, text, expected) -> None:
    with pytest.raises(SuiteError) as caught:
        load_file(_file(tmp_path, text))
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_cli_refuses_bad_variants_before_starting_anything(tmp_path, state_dir) -> None:
    path = _file(tmp_path, '[mine]\nservice = "fastapi"\nsettings = { WEB_WORKER_CLASS = "sync" }')
    for command in (["run", "--services", "flask,mine"], ["serve", "mine"], ["ui", "mine"]):
        line = one_line_error(run_cli(*command, "--variants", str(path), "--out", str(tmp_path / "o"),
                                      env=cli_env(state_dir)) if command[0] == "run" else
                              run_cli(*command, "--variants", str(path), env=cli_env(state_dir)))  # fmt: skip
        assert "fastapi in mode orm does not read WEB_WORKER_CLASS" in line, command
    assert not (tmp_path / "o").exists(), "nothing started, nothing written"
    line = one_line_error(
        run_cli("run", "--variants", str(tmp_path / "none.toml"), env=cli_env(state_dir))
    )
    assert "no such file" in line


def test_settings_metadata_says_who_reads_what() -> None:
    assert SETTINGS["WEB_WORKER_CLASS"].read_by("flask") and not SETTINGS[
        "WEB_WORKER_CLASS"
    ].read_by("fastapi")
    assert SETTINGS["WEB_THREADS"].read_by("fastapi", "sync-def")
    assert not SETTINGS["WEB_THREADS"].read_by("fastapi", "orm")
    assert SETTINGS["DB_STATEMENT_CACHE"].read_by("fastapi", "raw")
    assert not SETTINGS["DB_STATEMENT_CACHE"].read_by("fastapi", "sync-def")
    assert {i.env for i in read_by("fastapi", "blocking")} >= {"DB_POOL_SIZE", "JSON_ENCODER"}
    settings = ServiceSettings.from_env({"DATABASE_URL": "postgresql://x", "DATA_ACCESS": "hybrid"})
    values = values_read(settings, "fastapi", "hybrid")
    assert (
        values["DB_WRITE_POOL_SIZE"] == 5
        and "DATABASE_URL" not in values
        and "WEB_PORT" not in values
    )
    assert settings.hybrid_split == (5, 15)


def test_default_workers_follow_the_worker_model_and_the_budget() -> None:
    base = {"DATABASE_URL": "postgresql://x"}
    gthread = ServiceSettings.from_env(base)
    sync = ServiceSettings.from_env({**base, "WEB_WORKER_CLASS": "sync", "DB_POOL_SIZE": "1"})
    assert service.default_workers(1, gthread, 195, BUILTIN["flask"].service) == 1
    assert service.default_workers(1, sync, 195, BUILTIN["flask"].service) == 3, "(2 x cores) + 1"
    assert service.default_workers(16, gthread, 195, BUILTIN["flask"].service) == 9, (
        "budget: 195 // 20"
    )


def test_every_variant_gets_the_same_cpus_and_at_most_the_baselines_connections(seeded) -> None:
    layout = cpu.plan_layout(True)
    prepared = {
        name: service.ServiceUnderTest.prepare(variant, seeded.url, layout, {})
        for name, variant in BUILTIN.items()
    }
    cpus = {s.cpus for s in prepared.values()}
    assert len(cpus) == 1
    baseline = prepared["flask"].connection_budget()
    assert all(s.connection_budget() <= baseline for s in prepared.values())


def test_the_fair_gate_serves_waiters_first_come_first_served() -> None:
    """A permit that is released goes to the longest waiter, even when a newcomer asks
    at that very moment (the race SQLAlchemy's pool queue loses)."""

    async def scenario() -> list[str]:
        gate = FifoGate(permits=1, timeout=5)
        served: list[str] = []

        async def request(name: str, hold: float) -> None:
            async with gate.hold():
                served.append(name)
                await asyncio.sleep(hold)

        first = asyncio.create_task(request("first", 0.05))
        await asyncio.sleep(0.01)
        waiters = [asyncio.create_task(request(f"waiter{i}", 0.01)) for i in range(3)]
        await asyncio.sleep(0.01)
        await first
        newcomer = asyncio.create_task(request("newcomer", 0))  # arrives as the permit frees
        await asyncio.gather(*waiters, newcomer)
        return served

    assert asyncio.run(scenario()) == ["first", "waiter0", "waiter1", "waiter2", "newcomer"]


def test_the_fair_gate_gives_up_after_the_pool_timeout() -> None:
    from services.common.errors import PoolExhausted

    async def scenario() -> None:
        gate = FifoGate(permits=1, timeout=0.2)
        async with gate.hold():
            with pytest.raises(PoolExhausted):
                async with gate.hold():
                    pass

    asyncio.run(scenario())


def test_readme_lists_every_setting_as_the_code_declares_it() -> None:
    from loadtests.commands.settings import markdown
    from tests.helpers import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    for row in markdown().splitlines():
        assert row in readme, f"README's settings table is stale: {row}"
