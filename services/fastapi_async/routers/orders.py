"""/orders: the eager-loaded read, a page, the aggregate summary, and the UoW insert."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.common.schemas import (
    OrderCreate,
    OrderListQuery,
    OrderOut,
    OrderPage,
    OrderSummaryOut,
)
from services.fastapi_async.dependencies import DataDep, OrderId, found
from services.fastapi_async.responses import DATABASE_ERRORS, errors

router = APIRouter(prefix="/orders", tags=["orders"], responses=errors(*DATABASE_ERRORS))
BY_ID = errors(404)  # endpoints that look a row up by its id


@router.get("/{order_id}", response_model=OrderOut, responses=BY_ID)
async def get_order(order_id: OrderId, data: DataDep) -> OrderOut:
    return found(await data.get_order(order_id), "order", order_id)


@router.get("", response_model=OrderPage)
async def list_orders(query: Annotated[OrderListQuery, Query()], data: DataDep) -> OrderPage:
    return await data.list_orders(query)


@router.get("/{order_id}/summary", response_model=OrderSummaryOut, responses=BY_ID)
async def order_summary(order_id: OrderId, data: DataDep) -> OrderSummaryOut:
    return found(await data.order_summary(order_id), "order", order_id)


@router.post("", response_model=OrderOut, status_code=201)
async def create_order(payload: OrderCreate, data: DataDep) -> OrderOut:
    return await data.create_order(payload)
