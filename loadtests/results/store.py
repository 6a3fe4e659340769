"""Writing ``results.json`` atomically and loading it, from any schema version, as
``RunResults`` or a one-line ``SuiteError`` saying what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loadtests import files
from loadtests.errors import SuiteError
from loadtests.results import legacy
from loadtests.results.models import SCHEMA_VERSION, RunResults

FILENAME = "results.json"
SCHEMA_PATH = Path(__file__).with_name("schema.json")


def write(run_dir: Path, results: RunResults) -> Path:
    """Atomically, so a reader never sees half a file."""
    return files.write_atomically(run_dir / FILENAME, results.model_dump_json(indent=1))


def load(run_dir: Path | str) -> RunResults:
    run_dir = Path(run_dir)
    path = run_dir / FILENAME if run_dir.is_dir() else run_dir
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SuiteError(f"no {FILENAME} in {run_dir}") from None
    except (OSError, ValueError) as exc:
        raise SuiteError(f"{path} is not valid JSON: {exc}") from None
    return parse(data, path)


def parse(data: Any, where: Path | str = FILENAME) -> RunResults:
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in (*legacy.CONVERTERS, SCHEMA_VERSION):
        known = ", ".join(str(v) for v in (*legacy.CONVERTERS, SCHEMA_VERSION))
        raise SuiteError(f"{where} is not a results file of a known schema version ({known})")
    try:
        if version in legacy.CONVERTERS:
            data = legacy.CONVERTERS[version](data)
        return RunResults.model_validate(data)
    except (ValidationError, KeyError, TypeError, AttributeError) as exc:
        raise SuiteError(f"{where} does not match the results schema: {_first(exc)}") from None


def _first(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False, include_input=False)[0]
        where = "/".join(str(part) for part in error["loc"]) or "(top level)"
        return f"{where}: {error['msg']}"
    return f"missing or malformed {exc}"
