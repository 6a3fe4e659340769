"""Building a new order: the unit of work ``POST /orders`` commits, minus the I/O.

Every data-access mode loads the customer and the products, hands them here, and writes
the result its own way (ORM objects or raw INSERTs); the validation and the arithmetic
live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidInput, unknown_reference
from services.common.models import Customer, Order, OrderItem, OrderStatus, Product
from services.common.schemas import OrderCreate


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class PricedOrder:
    customer_id: int
    lines: tuple[OrderLine, ...]
    total_cents: int


def price_order(
    payload: OrderCreate, customer_found: bool, prices: Mapping[int, int]
) -> PricedOrder:
    """The order's lines priced from the catalogue (``prices``: product id -> cents), or
    InvalidInput naming every unknown reference."""
    errors: list[dict[str, Any]] = []
    if not customer_found:
        errors.append(unknown_reference(["body", "customer_id"], "customer", payload.customer_id))
    for index, item in enumerate(payload.items):
        if item.product_id not in prices:
            loc: list[str | int] = ["body", "items", index, "product_id"]
            errors.append(unknown_reference(loc, "product", item.product_id))
    if errors:
        raise InvalidInput(errors)
    lines = tuple(
        OrderLine(item.product_id, item.quantity, prices[item.product_id]) for item in payload.items
    )
    total = sum(line.quantity * line.unit_price_cents for line in lines)
    return PricedOrder(payload.customer_id, lines, total)


def build_order(
    payload: OrderCreate, customer: Customer | None, products: Iterable[Product]
) -> Order:
    """The new ORM Order with its items, or InvalidInput naming every unknown reference."""
    by_id = {product.id: product for product in products}
    priced = price_order(
        payload, customer is not None, {pid: p.price_cents for pid, p in by_id.items()}
    )
    items = [
        OrderItem(
            product=by_id[line.product_id],
            quantity=line.quantity,
            unit_price_cents=line.unit_price_cents,
        )
        for line in priced.lines
    ]
    return Order(
        customer=customer,
        status=OrderStatus.pending,
        total_cents=priced.total_cents,
        items=items,
    )
