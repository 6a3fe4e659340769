"""/users: read one, rename one (1 SELECT + 1 UPDATE), keyset pages."""

from __future__ import annotations

from flask import Blueprint, Response

from services.common import queries
from services.common.schemas import UserListQuery, UserOut, UserPage, UserUpdate
from services.flask_sync.db import get_session
from services.flask_sync.responses import found, json_response
from services.flask_sync.validation import Parsed, json_body, path_id

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/<user_id>")
def get_user(user_id: str) -> Response:
    ident = path_id("user_id", user_id)
    user = get_session().scalars(queries.user_by_id(ident)).one_or_none()
    return json_response(UserOut.model_validate(found(user, "user", ident)))


@bp.patch("/<user_id>")
def rename_user(user_id: str) -> Response:
    data = json_body()
    parsed = Parsed()
    ident = parsed.path_id("user_id", user_id)
    update = parsed.body(UserUpdate, data)
    parsed.done()
    assert update is not None
    session = get_session()
    user = found(session.scalars(queries.user_by_id(ident)).one_or_none(), "user", ident)
    user.name = update.name
    session.commit()
    return json_response(UserOut.model_validate(user))


@bp.get("")
def list_users() -> Response:
    parsed = Parsed()
    query = parsed.query(UserListQuery)
    parsed.done()
    assert query is not None
    users = get_session().scalars(queries.users_page(query)).all()
    next_after = users[-1].id if len(users) == query.limit else None
    return json_response(UserPage(items=users, next_after_id=next_after))
