"""``python -m loadtests.results.schema``: rewrite schema.json from the models."""

from __future__ import annotations

import json

from loadtests.results.models import RunResults
from loadtests.results.store import SCHEMA_PATH


def generated() -> str:
    schema = RunResults.model_json_schema()
    schema["$id"] = "https://github.com/loadtests/flask-vs-fastapi/results.schema.json"
    schema["title"] = "loadtests results.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(generated())
    print(f"wrote {SCHEMA_PATH}")
