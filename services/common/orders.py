"""Building a new order: the unit of work ``POST /orders`` commits, minus the I/O.

Both services load the customer and the products, hand them here, and add the result
to their session; the validation and the arithmetic live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.common.errors import InvalidInput, unknown_reference
from services.common.models import Customer, Order, OrderItem, OrderStatus, Product
from services.common.schemas import OrderCreate


def build_order(
    payload: OrderCreate, customer: Customer | None, products: Iterable[Product]
) -> Order:
    """The new Order with its items, or InvalidInput naming every unknown reference."""
    by_id = {product.id: product for product in products}
    errors: list[dict[str, Any]] = []
    if customer is None:
        errors.append(unknown_reference(["body", "customer_id"], "customer", payload.customer_id))
    for index, item in enumerate(payload.items):
        if item.product_id not in by_id:
            loc: list[str | int] = ["body", "items", index, "product_id"]
            errors.append(unknown_reference(loc, "product", item.product_id))
    if errors:
        raise InvalidInput(errors)
    assert customer is not None
    items = [
        OrderItem(
            product=by_id[item.product_id],
            quantity=item.quantity,
            unit_price_cents=by_id[item.product_id].price_cents,
        )
        for item in payload.items
    ]
    return Order(
        customer=customer,
        status=OrderStatus.pending,
        total_cents=sum(item.quantity * item.unit_price_cents for item in items),
        items=items,
    )
