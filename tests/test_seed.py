"""The schema, deterministic seed data, and the fast reset to the seeded state."""

from __future__ import annotations

import time

import psycopg2
import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from loadtests.infra import database
from services.common import seed as seeding
from services.common.urls import sync_url, with_database
from tests.conftest import SMALL_SEED
from tests.helpers import cli_env, one_line_error, run_cli


def _with_connection(url: str, read):
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return read(conn)
    finally:
        engine.dispose()


def _checksum(url: str) -> str:
    return _with_connection(url, seeding.checksum)


def _counts(url: str) -> dict[str, int]:
    return _with_connection(url, seeding.row_counts)


def test_schema_has_every_table_relation_and_index(seeded: database.Target) -> None:
    engine = create_engine(sync_url(seeded.url), poolclass=NullPool)
    try:
        schema = inspect(engine)
        assert set(schema.get_table_names()) == set(seeding.TABLES)
        indexes = {ix["name"] for table in seeding.TABLES for ix in schema.get_indexes(table)}
        assert {"ix_users_active_id", "ix_orders_status_id", "ix_order_items_order_id"} <= indexes
        fks = {(fk["referred_table"], tuple(fk["constrained_columns"]))
               for fk in schema.get_foreign_keys("order_items")}  # fmt: skip
        assert fks == {("orders", ("order_id",)), ("products", ("product_id",))}
        assert {c["name"] for c in schema.get_columns("orders")} == {
            "id", "customer_id", "status", "total_cents", "created_at", "updated_at",
        }  # fmt: skip
    finally:
        engine.dispose()


def test_seed_sizes_and_consistency(seeded: database.Target) -> None:
    database.reset(seeded)  # other tests write to it
    counts = _counts(seeded.url)
    assert counts["users"] == SMALL_SEED.users and counts["orders"] == SMALL_SEED.orders
    assert SMALL_SEED.orders <= counts["order_items"] <= 5 * SMALL_SEED.orders
    with psycopg2.connect(seeded.url) as conn, conn.cursor() as cur:
        # Every order's total is the sum of its items, and every order has 1..5 items.
        cur.execute(
            """SELECT count(*) FROM orders o JOIN LATERAL (
                   SELECT sum(quantity * unit_price_cents) AS s, count(*) AS n
                   FROM order_items WHERE order_id = o.id) i ON true
               WHERE o.total_cents <> i.s OR i.n NOT BETWEEN 1 AND 5"""
        )
        assert cur.fetchone()[0] == 0
        # Sequences continue after the seeded ids.
        cur.execute("SELECT nextval(pg_get_serial_sequence('orders', 'id'))")
        assert cur.fetchone()[0] == SMALL_SEED.orders + 1


def test_seed_is_deterministic(seeded: database.Target) -> None:
    first = with_database(seeded.url, "determinism_a")
    second = with_database(seeded.url, "determinism_b")
    other = with_database(seeded.url, "determinism_c")
    with database.connect(seeded.url) as conn, conn.cursor() as cur:
        for name in ("determinism_a", "determinism_b", "determinism_c"):
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {name}")
    seeding.load(first, SMALL_SEED)
    seeding.load(second, SMALL_SEED)
    seeding.load(other, seeding.SeedSpec(**{**SMALL_SEED.as_dict(), "seed": 8}))
    assert _counts(first) == _counts(second)
    assert _checksum(first) == _checksum(second)
    assert _checksum(first) != _checksum(other), "the seed must matter"


@pytest.mark.slow
@pytest.mark.alone
def test_default_size_seeds_in_under_30_seconds(seeded: database.Target) -> None:
    url = with_database(seeded.url, "default_size")
    with database.connect(seeded.url) as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS default_size WITH (FORCE)")
        cur.execute("CREATE DATABASE default_size")
    result = seeding.load(url, seeding.SeedSpec())
    assert result.rows["users"] == 10_000 and result.rows["orders"] == 100_000
    assert result.seconds < 30, f"seeding the default size took {result.seconds:.1f} s"


@pytest.mark.alone
def test_reset_restores_the_seeded_state_quickly(seeded: database.Target) -> None:
    info = database.require_seed(seeded)
    database.reset(seeded)  # other tests write to it
    assert _checksum(seeded.url) == info["checksum"]
    with psycopg2.connect(seeded.url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE users SET name = 'changed' WHERE id = 1")
        cur.execute("DELETE FROM order_items WHERE order_id = 1")
        cur.execute("INSERT INTO customers (name, email) VALUES ('new', 'new@example.com')")
    assert _checksum(seeded.url) != info["checksum"]

    started = time.perf_counter()
    database.reset(seeded)
    elapsed = time.perf_counter() - started
    assert _checksum(seeded.url) == info["checksum"]
    assert elapsed < 5, f"reset took {elapsed:.2f} s"


def test_reset_never_drops_a_database_the_suite_did_not_create(seeded, tmp_path) -> None:
    precious = with_database(seeded.url, "precious")
    with database.connect(seeded.url) as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS precious WITH (FORCE)")
        cur.execute("CREATE DATABASE precious")
    with psycopg2.connect(precious) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id int primary key); INSERT INTO accounts VALUES (1)")
    env = cli_env(tmp_path, DATABASE_URL=precious)
    line = one_line_error(run_cli("db", "seed", "--users", "5", "--customers", "5",
                                  "--products", "5", "--orders", "5", env=env))  # fmt: skip
    assert "refusing to drop database 'precious'" in line
    with psycopg2.connect(precious) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM accounts")
        assert cur.fetchone()[0] == 1


def test_reset_before_seed_is_a_one_line_error(seeded, tmp_path) -> None:
    env = cli_env(tmp_path, DATABASE_URL=with_database(seeded.url, "never_seeded"))
    assert "has not been seeded" in one_line_error(run_cli("db", "reset", env=env))


@pytest.mark.parametrize("size", ["0", "-3"])
def test_bad_seed_sizes_are_one_line_errors(size: str, seeded, tmp_path) -> None:
    env = cli_env(tmp_path, DATABASE_URL=seeded.url)
    assert "must be at least 1" in one_line_error(run_cli("db", "seed", "--orders", size, env=env))


def test_seed_without_a_server_is_a_one_line_error(tmp_path) -> None:
    assert "not running" in one_line_error(run_cli("db", "seed", env=cli_env(tmp_path / "s")))
