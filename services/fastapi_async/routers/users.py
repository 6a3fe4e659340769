"""/users: read one, rename one (1 SELECT + 1 UPDATE), keyset pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.common.schemas import UserListQuery, UserOut, UserPage, UserUpdate
from services.fastapi_async.dependencies import DataDep, UserId, found
from services.fastapi_async.responses import DATABASE_ERRORS, errors

router = APIRouter(prefix="/users", tags=["users"], responses=errors(*DATABASE_ERRORS))
BY_ID = errors(404)  # endpoints that look a row up by its id


@router.get("/{user_id}", response_model=UserOut, responses=BY_ID)
async def get_user(user_id: UserId, data: DataDep) -> UserOut:
    return found(await data.get_user(user_id), "user", user_id)


@router.patch("/{user_id}", response_model=UserOut, responses=BY_ID)
async def rename_user(user_id: UserId, update: UserUpdate, data: DataDep) -> UserOut:
    return found(await data.rename_user(user_id, update.name), "user", user_id)


@router.get("", response_model=UserPage)
async def list_users(query: Annotated[UserListQuery, Query()], data: DataDep) -> UserPage:
    return await data.list_users(query)
