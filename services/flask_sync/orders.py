"""/orders: the eager-loaded read, a page, the aggregate summary, and the UoW insert."""

from __future__ import annotations

from flask import Blueprint, Response

from services.common.schemas import OrderCreate, OrderListQuery
from services.flask_sync.db import get_data
from services.flask_sync.responses import found, json_response
from services.flask_sync.validation import Parsed, json_body, path_id

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.get("/<order_id>")
def get_order(order_id: str) -> Response:
    ident = path_id("order_id", order_id)
    return json_response(found(get_data().get_order(ident), "order", ident))


@bp.get("")
def list_orders() -> Response:
    parsed = Parsed()
    query = parsed.query(OrderListQuery)
    parsed.done()
    assert query is not None
    return json_response(get_data().list_orders(query))


@bp.get("/<order_id>/summary")
def order_summary(order_id: str) -> Response:
    ident = path_id("order_id", order_id)
    return json_response(found(get_data().order_summary(ident), "order", ident))


@bp.post("")
def create_order() -> Response:
    data = json_body()
    parsed = Parsed()
    payload = parsed.body(OrderCreate, data)
    parsed.done()
    assert payload is not None
    return json_response(get_data().create_order(payload), status=201)
