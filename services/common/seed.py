"""Deterministic seed data, loaded with COPY.

The same ``SeedSpec`` always produces byte-identical tables: every value comes from one
``random.Random(spec.seed)`` consumed in a fixed order, and timestamps are offsets from a
fixed epoch rather than ``now()``. Rows are streamed to PostgreSQL with ``COPY ... FROM
STDIN`` (text format) because row-by-row ORM inserts would take minutes for the default
size instead of seconds.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import psycopg2.extensions
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from services.common.models import Base, OrderStatus
from services.common.urls import sync_url

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 24 * 3600
TABLES = ("users", "customers", "products", "orders", "order_items")

FIRST_NAMES = (
    "Ada", "Alan", "Barbara", "Claude", "Dennis", "Edsger", "Frances", "Grace", "Guido",
    "Hedy", "Ivan", "John", "Katherine", "Ken", "Linus", "Margaret", "Niklaus", "Radia",
    "Shafi", "Tim",
)  # fmt: skip
LAST_NAMES = (
    "Allen", "Backus", "Cerf", "Dijkstra", "Engelbart", "Floyd", "Goldberg", "Hopper",
    "Iverson", "Johnson", "Knuth", "Lamport", "Liskov", "McCarthy", "Perlman", "Ritchie",
    "Shannon", "Thompson", "Turing", "Wirth",
)  # fmt: skip
PRODUCT_WORDS = (
    "Adapter", "Battery", "Cable", "Dock", "Encoder", "Fan", "Gauge", "Hub", "Keyboard",
    "Lamp", "Monitor", "Node", "Oscillator", "Panel", "Router", "Sensor", "Switch", "Valve",
)  # fmt: skip
STATUSES = tuple(OrderStatus)


@dataclass(frozen=True)
class SeedSpec:
    """How much data to generate, and from which random seed."""

    users: int = 10_000
    customers: int = 10_000
    products: int = 1_000
    orders: int = 100_000
    seed: int = 42

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name != "seed" and value < 1:
                raise ValueError(f"seed size '{name}' must be at least 1, got {value}")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class SeedResult:
    spec: SeedSpec
    rows: dict[str, int]
    seconds: float


def _timestamp(rng: random.Random) -> str:
    return (EPOCH + timedelta(seconds=rng.randrange(YEAR_SECONDS))).isoformat()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _users(spec: SeedSpec, rng: random.Random) -> Iterator[str]:
    for i in range(1, spec.users + 1):
        active = "t" if rng.random() < 0.8 else "f"
        yield f"{i}\t{_person(rng)}\tuser{i}@example.com\t{active}\t{_timestamp(rng)}\n"


def _customers(spec: SeedSpec, rng: random.Random) -> Iterator[str]:
    for i in range(1, spec.customers + 1):
        yield f"{i}\t{_person(rng)}\tcustomer{i}@example.com\n"


def _product_prices(spec: SeedSpec, rng: random.Random) -> list[int]:
    return [rng.randrange(100, 100_000) for _ in range(spec.products)]


def _products(prices: list[int], rng: random.Random) -> Iterator[str]:
    for i, price in enumerate(prices, start=1):
        yield f"{i}\t{rng.choice(PRODUCT_WORDS)} {i}\t{price}\n"


def _orders_and_items(
    spec: SeedSpec, prices: list[int], rng: random.Random
) -> tuple[list[str], list[str]]:
    orders: list[str] = []
    items: list[str] = []
    item_id = 0
    for order_id in range(1, spec.orders + 1):
        customer_id = rng.randrange(1, spec.customers + 1)
        status = rng.choice(STATUSES).value
        total = 0
        for _ in range(rng.randrange(1, 6)):
            item_id += 1
            product_id = rng.randrange(1, spec.products + 1)
            quantity = rng.randrange(1, 6)
            price = prices[product_id - 1]
            total += quantity * price
            items.append(f"{item_id}\t{order_id}\t{product_id}\t{quantity}\t{price}\n")
        created = _timestamp(rng)
        orders.append(f"{order_id}\t{customer_id}\t{status}\t{total}\t{created}\t{created}\n")
    return orders, items


def generate(spec: SeedSpec) -> dict[str, tuple[str, list[str] | Iterator[str]]]:
    """Rows per table in COPY text format, keyed by table name, with the column list."""
    rng = random.Random(spec.seed)
    users = list(_users(spec, rng))
    customers = list(_customers(spec, rng))
    prices = _product_prices(spec, rng)
    products = list(_products(prices, rng))
    orders, items = _orders_and_items(spec, prices, rng)
    return {
        "users": ("id, name, email, active, created_at", users),
        "customers": ("id, name, email", customers),
        "products": ("id, name, price_cents", products),
        "orders": ("id, customer_id, status, total_cents, created_at, updated_at", orders),
        "order_items": ("id, order_id, product_id, quantity, unit_price_cents", items),
    }


def _copy(conn: Connection, table: str, columns: str, rows: list[str] | Iterator[str]) -> int:
    buffer = io.StringIO("".join(rows))
    raw = conn.connection.dbapi_connection
    assert raw is not None
    # SQLAlchemy types this as any PEP 249 connection; sync_url makes it psycopg2's, whose
    # cursors have COPY and are context managers.
    with cast(psycopg2.extensions.connection, raw).cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)
        return int(cursor.rowcount)


def load(database_url: str, spec: SeedSpec) -> SeedResult:
    """Create the schema in an empty database and fill it. Returns row counts."""
    started = time.perf_counter()
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            Base.metadata.create_all(conn)
            rows = {
                table: _copy(conn, table, columns, data)
                for table, (columns, data) in generate(spec).items()
            }
            # COPY with explicit ids leaves the sequences at 1: move them past the data
            # so POST /orders and friends get fresh ids.
            for table in TABLES:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # Visibility map and statistics now, so the first measured requests do not
            # race autovacuum for index-only scans and sane plans.
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return SeedResult(spec=spec, rows=rows, seconds=time.perf_counter() - started)


def checksum(conn: Connection) -> str:
    """One md5 over every row of every table, in id order: equal data, equal checksum."""
    parts = []
    for table in TABLES:
        digest = conn.execute(
            text(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t")
        ).scalar_one()
        parts.append(f"{table}:{digest}")
    total: str = conn.execute(text("SELECT md5(:s)"), {"s": ",".join(parts)}).scalar_one()
    return total


def row_counts(conn: Connection) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
