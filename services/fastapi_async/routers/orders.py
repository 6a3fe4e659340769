"""/orders: the eager-loaded read, a page, the aggregate summary, and the UoW insert."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from services.common.errors import not_found
from services.common.schemas import (
    OrderCreate,
    OrderListQuery,
    OrderOut,
    OrderPage,
    OrderSummaryOut,
)
from services.fastapi_async.dependencies import DataDep, OrderId

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("/{order_id}", response_model=OrderOut)
async def get_order(order_id: OrderId, data: DataDep) -> OrderOut:
    order = await data.get_order(order_id)
    if order is None:
        raise HTTPException(404, not_found("order", order_id))
    return order


@router.get("", response_model=OrderPage)
async def list_orders(query: Annotated[OrderListQuery, Query()], data: DataDep) -> OrderPage:
    return await data.list_orders(query)


@router.get("/{order_id}/summary", response_model=OrderSummaryOut)
async def order_summary(order_id: OrderId, data: DataDep) -> OrderSummaryOut:
    summary = await data.order_summary(order_id)
    if summary is None:
        raise HTTPException(404, not_found("order", order_id))
    return summary


@router.post("", response_model=OrderOut, status_code=201)
async def create_order(payload: OrderCreate, data: DataDep) -> OrderOut:
    return await data.create_order(payload)
