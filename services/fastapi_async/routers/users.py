"""/users: read one, rename one (1 SELECT + 1 UPDATE), keyset pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from services.common.errors import not_found
from services.common.schemas import UserListQuery, UserOut, UserPage, UserUpdate
from services.fastapi_async.dependencies import DataDep, UserId

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/{user_id}", response_model=UserOut)
async def get_user(user_id: UserId, data: DataDep) -> UserOut:
    user = await data.get_user(user_id)
    if user is None:
        raise HTTPException(404, not_found("user", user_id))
    return user


@router.patch("/{user_id}", response_model=UserOut)
async def rename_user(user_id: UserId, update: UserUpdate, data: DataDep) -> UserOut:
    user = await data.rename_user(user_id, update.name)
    if user is None:
        raise HTTPException(404, not_found("user", user_id))
    return user


@router.get("", response_model=UserPage)
async def list_users(query: Annotated[UserListQuery, Query()], data: DataDep) -> UserPage:
    return await data.list_users(query)
