"""The SQL of the contract, built once with SQLAlchemy and run by either service.

Each function returns a statement; the sync service runs it with ``session.execute``,
the async one with ``await session.execute``. Keeping the statements here guarantees
both services send PostgreSQL the same queries with the same eager-loading options.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload, selectinload

from services.common.models import Customer, Order, OrderItem, OrderStatus, Product, User
from services.common.schemas import OrderListQuery, UserListQuery


def user_by_id(user_id: int) -> Select[User]:
    return select(User).where(User.id == user_id)


def users_page(query: UserListQuery) -> Select[User]:
    stmt = select(User).where(User.id > query.after_id)
    if query.active is not None:
        stmt = stmt.where(User.active == query.active)
    return stmt.order_by(User.id).limit(query.limit)


def order_detail(order_id: int) -> Select[Order]:
    """Order + customer (one JOIN), then items + their products (one IN query)."""
    return (
        select(Order)
        .where(Order.id == order_id)
        .options(
            joinedload(Order.customer),
            selectinload(Order.items).joinedload(OrderItem.product),
        )
    )


def orders_page(query: OrderListQuery) -> Select[Order]:
    stmt = select(Order)
    if query.status is not None:
        stmt = stmt.where(Order.status == query.status)
    return (
        stmt.order_by(Order.id.desc())
        .limit(query.limit)
        .options(joinedload(Order.customer), selectinload(Order.items))
    )


def _summaries() -> Select[int, OrderStatus, int, str, str, int, int]:
    return (
        select(
            Order.id,
            Order.status,
            Order.total_cents,
            Customer.name.label("customer_name"),
            Customer.email.label("customer_email"),
            func.count(OrderItem.id).label("item_count"),
            func.coalesce(func.sum(OrderItem.quantity * OrderItem.unit_price_cents), 0).label(
                "items_total_cents"
            ),
        )
        .join(Customer, Customer.id == Order.customer_id)
        .outerjoin(OrderItem, OrderItem.order_id == Order.id)
        .group_by(Order.id, Customer.id)
    )


def order_summary(order_id: int) -> Select[int, OrderStatus, int, str, str, int, int]:
    """One aggregate JOIN: what a hand-written raw-driver read would do."""
    return _summaries().where(Order.id == order_id)


def order_summaries(order_ids: list[int]) -> Select[int, OrderStatus, int, str, str, int, int]:
    """``order_summary`` for many orders in one statement (one batched IN query)."""
    return _summaries().where(Order.id.in_(order_ids))


def customer_by_id(customer_id: int) -> Select[Customer]:
    return select(Customer).where(Customer.id == customer_id)


def products_by_ids(product_ids: set[int]) -> Select[Product]:
    return select(Product).where(Product.id.in_(sorted(product_ids)))
