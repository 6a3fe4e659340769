"""``DATA_ACCESS=raw``: an asyncpg pool and hand-written SQL (``services/common/sql.py``).

Rows become the same pydantic models as the ORM's objects, so the bodies are the same
bytes. Reads run as single statements outside a transaction and a rename is one
``UPDATE ... RETURNING``, as raw-driver code usually does: this mode sends fewer
statements than the ORM (the tests count them). asyncpg's pool resets a connection when
it is released (one round trip), as it does by default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.common import sql
from services.common.deadline import LoopWatch
from services.common.errors import PoolExhausted
from services.common.orders import price_order
from services.common.schemas import (
    OrderCreate,
    OrderListQuery,
    OrderOut,
    OrderPage,
    OrderSummaryOut,
    UserListQuery,
    UserOut,
    UserPage,
)
from services.common.settings import ServiceSettings
from services.common.timing import PoolWait
from services.common.urls import plain_url
from services.fastapi_async.data.gate import gate_for
from services.fastapi_async.data.orm import asyncpg_connect_args


class RawBackend:
    def __init__(self, settings: ServiceSettings, connections: int | None = None) -> None:
        self.settings = settings
        self.size = connections or settings.connections_per_worker
        self.gate = gate_for(settings, self.size)
        self.pool: asyncpg.Pool | None = None
        self.watch = LoopWatch(settings.deadline) if settings.deadline is not None else None

    async def start(self) -> None:
        # min_size=0: connections open on first use, as SQLAlchemy's pool does.
        self.pool = await asyncpg.create_pool(
            plain_url(self.settings.database_url),
            min_size=0,
            max_size=self.size,
            **asyncpg_connect_args(self.settings),
        )

    async def acquire(self) -> PoolConnectionProxy:
        assert self.pool is not None
        try:
            with PoolWait():
                connection = await self.pool.acquire(timeout=self.settings.pool_timeout)
        except TimeoutError:
            if self.pool.get_size() < self.pool.get_max_size():
                raise  # a connection attempt timed out: the database, not the pool
            raise PoolExhausted from None
        if self.watch is not None:  # REQUEST_DEADLINE_S (services/common/deadline.py)
            self.watch.start(connection, connection.terminate)
        return connection

    async def release(self, connection: PoolConnectionProxy) -> None:
        assert self.pool is not None
        if self.watch is None:
            await self.pool.release(connection)
            return
        # The pool's reset of the connection gets what is left of the deadline; past it,
        # the pool terminates the connection and this raises TimeoutError.
        left = self.watch.stop(connection)
        await self.pool.release(connection, timeout=max(left, 0.001))

    @asynccontextmanager
    async def access(self) -> AsyncIterator[RawDataAccess]:
        async with self.gate.hold():
            data = RawDataAccess(self)
            try:
                yield data
            finally:
                await data.close()

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


def _order(row: asyncpg.Record, items: list[dict[str, Any]]) -> dict[str, Any]:
    order = dict(row)
    order["customer"] = {
        "id": order.pop("customer_id"),
        "name": order.pop("customer_name"),
        "email": order.pop("customer_email"),
    }
    order["items"] = items
    return order


def _item_with_product(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "quantity": row["quantity"],
        "unit_price_cents": row["unit_price_cents"],
        "product": {
            "id": row["product_id"],
            "name": row["product_name"],
            "price_cents": row["price_cents"],
        },
    }


def _by_order(rows: Sequence[asyncpg.Record]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        line = dict(row)
        grouped.setdefault(line.pop("order_id"), []).append(line)
    return grouped


class RawDataAccess:
    """One request's work; its connection is taken from the pool on first use."""

    def __init__(self, backend: RawBackend) -> None:
        self.backend = backend
        self._connection: PoolConnectionProxy | None = None

    async def connection(self) -> PoolConnectionProxy:
        if self._connection is None:
            self._connection = await self.backend.acquire()
        return self._connection

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self.backend.release(connection)

    async def get_user(self, user_id: int) -> UserOut | None:
        row = await (await self.connection()).fetchrow(sql.USER_BY_ID, user_id)
        return UserOut.model_validate(dict(row)) if row else None

    async def rename_user(self, user_id: int, name: str) -> UserOut | None:
        row = await (await self.connection()).fetchrow(sql.RENAME_USER, user_id, name)
        return UserOut.model_validate(dict(row)) if row else None

    async def list_users(self, query: UserListQuery) -> UserPage:
        connection = await self.connection()
        if query.active is None:
            rows = await connection.fetch(sql.USERS_PAGE, query.after_id, query.limit)
        else:
            rows = await connection.fetch(
                sql.USERS_PAGE_BY_ACTIVE, query.after_id, query.limit, query.active
            )
        next_after = rows[-1]["id"] if len(rows) == query.limit else None
        return UserPage(items=[dict(row) for row in rows], next_after_id=next_after)

    async def get_order(self, order_id: int) -> OrderOut | None:
        connection = await self.connection()
        row = await connection.fetchrow(sql.ORDER_WITH_CUSTOMER, order_id)
        if row is None:
            return None
        items = await connection.fetch(sql.ORDER_ITEMS_WITH_PRODUCTS, [order_id])
        return OrderOut.model_validate(_order(row, [_item_with_product(i) for i in items]))

    async def list_orders(self, query: OrderListQuery) -> OrderPage:
        connection = await self.connection()
        if query.status is None:
            rows = await connection.fetch(sql.ORDERS_PAGE, query.limit)
        else:
            rows = await connection.fetch(sql.ORDERS_PAGE_BY_STATUS, query.limit, query.status)
        lines = _by_order(await connection.fetch(sql.ORDER_LINES, [r["id"] for r in rows]))
        return OrderPage(items=[_order(row, lines.get(row["id"], [])) for row in rows])

    async def order_summary(self, order_id: int) -> OrderSummaryOut | None:
        row = await (await self.connection()).fetchrow(sql.ORDER_SUMMARY, order_id)
        return OrderSummaryOut.model_validate(dict(row)) if row else None

    async def create_order(self, payload: OrderCreate) -> OrderOut:
        connection = await self.connection()
        customer = await connection.fetchrow(sql.CUSTOMER_BY_ID, payload.customer_id)
        product_ids = sorted({item.product_id for item in payload.items})
        products = {
            row["id"]: row for row in await connection.fetch(sql.PRODUCTS_BY_IDS, product_ids)
        }
        priced = price_order(
            payload,
            customer is not None,
            {pid: row["price_cents"] for pid, row in products.items()},
        )
        async with connection.transaction():
            order = await connection.fetchrow(
                sql.INSERT_ORDER, priced.customer_id, priced.total_cents
            )
            assert order is not None  # INSERT ... RETURNING: always one row
            items = await connection.fetch(
                sql.INSERT_ORDER_ITEMS,
                order["id"],
                [line.product_id for line in priced.lines],
                [line.quantity for line in priced.lines],
                [line.unit_price_cents for line in priced.lines],
            )
        assert customer is not None
        lines = []
        for item in sorted(items, key=lambda row: row["id"]):
            product = products[item["product_id"]]
            lines.append({**dict(item), "product": dict(product)})
        body = {**dict(order), "customer": dict(customer), "items": lines}
        return OrderOut.model_validate(body)
