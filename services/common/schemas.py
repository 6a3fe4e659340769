"""The HTTP contract's input and output models, shared by both services.

Both services validate requests and serialize responses through these classes, so
equal requests give byte-comparable bodies. Inputs forbid unknown fields; ids are
bounded to PostgreSQL's ``integer`` and text excludes NUL (which PostgreSQL cannot
store), so such input is a 422, not a driver error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.common.models import OrderStatus

PG_INT_MAX = 2_147_483_647

Id = Annotated[int, Field(ge=1, le=PG_INT_MAX)]
PageLimit = Annotated[int, Field(ge=1, le=100)]
# A pattern rather than a validator, so the OpenAPI document states it too.
NO_NUL = r"^[^\x00]*$"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- users ------------------------------------------------------------------------------


class UserOut(_Out):
    id: int
    name: str
    email: str
    active: bool
    created_at: datetime


class UserUpdate(_In):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]


class UserListQuery(BaseModel):
    active: bool | None = None
    limit: PageLimit = 20
    after_id: Annotated[int, Field(ge=0, le=PG_INT_MAX)] = 0


class UserPage(_Out):
    items: list[UserOut]
    next_after_id: int | None


# -- orders -----------------------------------------------------------------------------


class CustomerOut(_Out):
    id: int
    name: str
    email: str


class ProductOut(_Out):
    id: int
    name: str
    price_cents: int


class OrderItemOut(_Out):
    id: int
    product: ProductOut
    quantity: int
    unit_price_cents: int


class OrderOut(_Out):
    """``GET /orders/{id}`` and ``POST /orders``: the order with all three relations."""

    id: int
    status: OrderStatus
    total_cents: int
    created_at: datetime
    updated_at: datetime
    customer: CustomerOut
    items: list[OrderItemOut]


class OrderLineOut(_Out):
    id: int
    product_id: int
    quantity: int
    unit_price_cents: int


class OrderInListOut(_Out):
    """An order in ``GET /orders``: customer and item lines, without product details."""

    id: int
    status: OrderStatus
    total_cents: int
    created_at: datetime
    customer: CustomerOut
    items: list[OrderLineOut]


class OrderListQuery(BaseModel):
    status: OrderStatus | None = None
    limit: PageLimit = 20


class OrderPage(_Out):
    items: list[OrderInListOut]


class OrderSummaryOut(_Out):
    id: int
    status: OrderStatus
    total_cents: int
    customer_name: str
    customer_email: str
    item_count: int
    items_total_cents: int


class OrderItemIn(_In):
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=1000)]


class OrderCreate(_In):
    customer_id: Id
    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=50)]


class Health(BaseModel):
    status: str = "ok"


# -- errors (the bodies are built in errors.py; these document them) ---------------------


class _ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(_ErrorBody):
    """404, 405 and 503: one sentence."""

    detail: str


class InvalidInputEntry(_ErrorBody):
    type: str
    loc: list[str | int]
    msg: str


class InvalidInputOut(_ErrorBody):
    """422: every problem with the path, query and body, in that order."""

    detail: Annotated[list[InvalidInputEntry], Field(min_length=1)]
