"""/orders: the eager-loaded read, a page, the aggregate summary, and the UoW insert."""

from __future__ import annotations

from flask import Blueprint, Response

from services.common import queries
from services.common.orders import build_order
from services.common.schemas import (
    OrderCreate,
    OrderListQuery,
    OrderOut,
    OrderPage,
    OrderSummaryOut,
)
from services.flask_sync.db import get_session
from services.flask_sync.responses import found, json_response
from services.flask_sync.validation import Parsed, json_body, path_id

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.get("/<order_id>")
def get_order(order_id: str) -> Response:
    ident = path_id("order_id", order_id)
    order = get_session().scalars(queries.order_detail(ident)).one_or_none()
    return json_response(OrderOut.model_validate(found(order, "order", ident)))


@bp.get("")
def list_orders() -> Response:
    parsed = Parsed()
    query = parsed.query(OrderListQuery)
    parsed.done()
    assert query is not None
    orders = get_session().scalars(queries.orders_page(query)).all()
    return json_response(OrderPage(items=orders))


@bp.get("/<order_id>/summary")
def order_summary(order_id: str) -> Response:
    ident = path_id("order_id", order_id)
    row = found(get_session().execute(queries.order_summary(ident)).one_or_none(), "order", ident)
    return json_response(OrderSummaryOut.model_validate(row._mapping))


@bp.post("")
def create_order() -> Response:
    data = json_body()
    parsed = Parsed()
    payload = parsed.body(OrderCreate, data)
    parsed.done()
    assert payload is not None
    session = get_session()
    customer = session.scalars(queries.customer_by_id(payload.customer_id)).one_or_none()
    product_ids = {item.product_id for item in payload.items}
    products = session.scalars(queries.products_by_ids(product_ids)).all()
    order = build_order(payload, customer, products)
    session.add(order)
    session.commit()
    return json_response(OrderOut.model_validate(order), status=201)
