"""The contract's database work with sync SQLAlchemy, one instance per request.

Flask runs it in its worker threads; FastAPI's ``sync-def`` mode in AnyIO's thread pool
and its ``blocking`` mode (the anti-pattern) straight on the event loop. One class keeps
the three from drifting apart: the same statements, the same objects, the same models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Executable
from sqlalchemy.orm import Session

from services.common import queries
from services.common.liveness import retried_once
from services.common.orders import build_order
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
from services.common.timing import OrmCall

T = TypeVar("T")


class SyncOrmAccess:
    def __init__(self, session: Session, reconnect: bool) -> None:
        """``reconnect`` (DB_RECONNECT): a transaction's first statement that finds its
        connection dead runs again on a fresh one (services/common/liveness.py)."""
        self.session = session
        self.reconnect = reconnect

    # Each session call, with the objects it loads, is ORM time (services/common/timing.py).

    def _run(self, statement: Callable[[], T]) -> T:
        return retried_once(self.session, statement) if self.reconnect else statement()

    def _one(self, statement: Executable) -> Any:
        with OrmCall():
            return self._run(lambda: self.session.scalars(statement).one_or_none())

    def _all(self, statement: Executable) -> Any:
        with OrmCall():
            return self._run(lambda: self.session.scalars(statement).all())

    def _row(self, statement: Executable) -> Any:
        with OrmCall():
            return self._run(lambda: self.session.execute(statement).one_or_none())

    def _commit(self) -> None:
        with OrmCall():
            self.session.commit()

    def get_user(self, user_id: int) -> UserOut | None:
        user = self._one(queries.user_by_id(user_id))
        return UserOut.model_validate(user) if user else None

    def rename_user(self, user_id: int, name: str) -> UserOut | None:
        user = self._one(queries.user_by_id(user_id))
        if user is None:
            return None
        user.name = name
        self._commit()
        return UserOut.model_validate(user)

    def list_users(self, query: UserListQuery) -> UserPage:
        users = self._all(queries.users_page(query))
        next_after = users[-1].id if len(users) == query.limit else None
        return UserPage(items=users, next_after_id=next_after)

    def get_order(self, order_id: int) -> OrderOut | None:
        order = self._one(queries.order_detail(order_id))
        return OrderOut.model_validate(order) if order else None

    def list_orders(self, query: OrderListQuery) -> OrderPage:
        return OrderPage(items=self._all(queries.orders_page(query)))

    def order_summary(self, order_id: int) -> OrderSummaryOut | None:
        row = self._row(queries.order_summary(order_id))
        return OrderSummaryOut.model_validate(row._mapping) if row else None

    def create_order(self, payload: OrderCreate) -> OrderOut:
        customer = self._one(queries.customer_by_id(payload.customer_id))
        products = self._all(queries.products_by_ids({item.product_id for item in payload.items}))
        order = build_order(payload, customer, products)
        self.session.add(order)
        self._commit()
        return OrderOut.model_validate(order)
