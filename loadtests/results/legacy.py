"""Reading results.json files written by older versions of the suite.

Schema 2 ran every variant through the whole step ladder in turn, in rounds; it reads as
schema 3 with ``design = "rounds"``. Schema 1 compared exactly two services, once each,
and its latency percentiles mixed failed and successful responses. Converted, such a run
is one round of two variants; its goodput is recomputed from the counts, and its steps
say that their percentiles include failures. What schema 1 never measured stays empty
("not measured").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.common.settings import SETTINGS

_RUN_KEYS = (
    "id", "status", "started_at", "finished_at", "duration_s", "profile", "command",
    "scenarios", "locust_processes",
)  # fmt: skip
_ENV_OF_FIELD = {info.field: info.env for info in SETTINGS.values()}


def _traffic(old: dict[str, Any], seconds: float) -> dict[str, Any]:
    successes = old["requests"] - old["errors"]
    return {
        "requests": old["requests"],
        "successes": successes,
        "throughput_rps": round(successes / seconds, 2) if seconds > 0 else 0.0,
        "latency_ms": old["latency_ms"],
        "failures": {
            "count": old["errors"],
            "rate": old["error_rate"],
            "by_kind": old["errors_by_kind"],
            "latency_ms": None,
        },
        "latency_includes_failures": True,
    }


def _step(old: dict[str, Any]) -> dict[str, Any]:
    seconds = old["window"]["seconds"]
    return {
        "step": old["step"],
        "users": old["users"],
        "window": old["window"],
        **_traffic(old, seconds),
        "endpoints": {name: _traffic(e, seconds) for name, e in old["endpoints"].items()},
        "cpu": old.get("cpu"),
        "stability": old["stability"],
    }


def _run(variant: str, old: dict[str, Any]) -> dict[str, Any]:
    keep = ("status", "error", "reset_seconds", "locust", "timeseries", "recorded")
    run = {key: old[key] for key in keep if key in old}
    return {
        "variant": variant,
        "round": 1,
        "position": old.get("order") or 1,
        **run,
        "steps": [_step(step) for step in old.get("steps", [])],
        "locust_counts": old.get("locust_counts"),
        "statements": old.get("statements"),
        "service_failures": old.get("service_failures", []),
    }


def from_v1(data: dict[str, Any]) -> dict[str, Any]:
    run = data["run"]
    services = run["services"]
    plan = {
        "steps": run["steps"],
        "warmup_seconds": run["warmup_seconds"],
        "step_seconds": run["step_seconds"],
    }
    variants = {}
    for name, service in data["services"].items():
        variants[name] = {
            "name": name,
            "label": service["label"],
            "service": name,
            "mode": "orm" if name == "fastapi" else None,
            "stack": service["stack"],
            "description": service["stack"],
            "antipattern": False,
            "builtin": True,
            "process_model": service["process_model"],
            "settings": {_ENV_OF_FIELD.get(k, k): v for k, v in service["settings"].items()},
        }
    differences = [
        {
            "variant": services[1],
            "setting": _ENV_OF_FIELD.get(d["setting"], d["setting"]),
            "value": d.get(services[1]),
            "baseline": d.get(services[0]),
        }
        for d in data["fairness"]["differences"]
        if len(services) == 2
    ]
    return {
        "schema_version": 2,
        "run": {
            **{
                k: run[k]
                for k in (
                    "id",
                    "status",
                    "started_at",
                    "finished_at",
                    "duration_s",
                    "profile",
                    "command",
                    "scenarios",
                    "locust_processes",
                )
            },
            "variants": services,
            "rounds": 1,
            "error": run.get("error"),
        },
        "environment": data["environment"],
        "database": data["database"],
        "pgbouncer": data["pgbouncer"],
        "cpu_layout": data["cpu_layout"],
        "variants": variants,
        "fairness": {
            "baseline": services[0],
            "differences": differences,
            "notes": data["fairness"]["notes"],
        },
        "scenarios": {
            name: {
                "description": scenario["description"],
                "user_class": scenario["user_class"],
                "variants": [s for s in services if s in scenario["results"]],
                "plan": plan,
                "runs": [
                    _run(s, scenario["results"][s]) for s in services if s in scenario["results"]
                ],
            }
            for name, scenario in data["scenarios"].items()
        },
    }


def from_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 ran rounds: every variant through the whole ladder in turn. Its shape
    is a subset of schema 3's (``design`` defaults to rounds), so only the version moves;
    the analysis treats each round's step as one unpooled replicate."""
    return {**data, "schema_version": 3}


CONVERTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: lambda data: from_v2(from_v1(data)),
    2: from_v2,
}
