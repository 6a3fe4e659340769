"""Request parsing that reports errors exactly as the FastAPI service does.

FastAPI validates path, query and body parameters with pydantic and reports every
problem at once, in that order; a body that is not valid JSON is reported alone. These
helpers do the same with the same models, so both services answer 422 identically.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.common.edges import NO_BODY, query_values, read_body
from services.common.errors import InvalidInput, error_entries
from services.common.schemas import Id

M = TypeVar("M", bound=BaseModel)
_ID = TypeAdapter(Id)
_MISSING_BODY = [{"type": "missing", "loc": ["body"], "msg": "Field required"}]


class Parsed:
    """Collects validation errors across path, query and body, then raises them together."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def path_id(self, name: str, raw: str) -> int:
        try:
            return _ID.validate_python(raw)
        except ValidationError as exc:
            self.errors += error_entries(exc.errors(), ("path", name))
            return 0

    def query(self, model: type[M]) -> M | None:
        try:
            return model.model_validate(query_values(request.args.items(multi=True)))
        except ValidationError as exc:
            self.errors += error_entries(exc.errors(), ("query",))
            return None

    def body(self, model: type[M], data: Any) -> M | None:
        if data is NO_BODY:
            self.errors += _MISSING_BODY
            return None
        try:
            # FastAPI validates bodies with from_attributes=True, which decides the error
            # type for a body that is not an object; validate the same way.
            return model.model_validate(data, from_attributes=True)
        except ValidationError as exc:
            self.errors += error_entries(exc.errors(), ("body",))
            return None

    def done(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)


def path_id(name: str, raw: str) -> int:
    """A request whose only input is an id in its path."""
    parsed = Parsed()
    ident = parsed.path_id(name, raw)
    parsed.done()
    return ident


def json_body() -> Any:
    """The request body as FastAPI sees it (services/common/edges.py). Malformed JSON is
    reported before anything else is validated."""
    return read_body(request.get_data(cache=False), request.content_type)
