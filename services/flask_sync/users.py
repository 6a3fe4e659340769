"""/users: read one, rename one (1 SELECT + 1 UPDATE), keyset pages."""

from __future__ import annotations

from flask import Blueprint, Response

from services.common.schemas import UserListQuery, UserUpdate
from services.flask_sync.db import get_data
from services.flask_sync.responses import found, json_response
from services.flask_sync.validation import Parsed, json_body, path_id

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/<user_id>")
def get_user(user_id: str) -> Response:
    ident = path_id("user_id", user_id)
    return json_response(found(get_data().get_user(ident), "user", ident))


@bp.patch("/<user_id>")
def rename_user(user_id: str) -> Response:
    data = json_body()
    parsed = Parsed()
    ident = parsed.path_id("user_id", user_id)
    update = parsed.body(UserUpdate, data)
    parsed.done()
    assert update is not None
    return json_response(found(get_data().rename_user(ident, update.name), "user", ident))


@bp.get("")
def list_users() -> Response:
    parsed = Parsed()
    query = parsed.query(UserListQuery)
    parsed.done()
    assert query is not None
    return json_response(get_data().list_users(query))
