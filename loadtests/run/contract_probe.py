"""Before any load on an external target: does it answer like the baseline?

A handful of requests from the HTTP contract (services/common), read-only or refused
before any write, go to the baseline and to every external target. Each answer is
reduced to its status and the shape of its JSON body (keys and value types, not values:
a target on its own database holds other names). The first answer that differs stops the
run with one line naming the request and the difference.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from loadtests.errors import SuiteError
from loadtests.run.service import ServiceUnderTest

TIMEOUT_S = 10.0
# (method, path, JSON body): found, not found, a page, a nested document, a refused write.
PROBES: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/health", None),
    ("GET", "/users/1", None),
    ("GET", "/users/2147483647", None),
    ("GET", "/users?limit=2", None),
    ("GET", "/orders/1", None),
    ("GET", "/orders/1/summary", None),
    ("POST", "/orders", {}),
    ("PATCH", "/users/1", {"name": ""}),
)


def shape(value: Any) -> Any:
    """A JSON value's structure: dicts keep their keys, lists their first item's shape."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return type(value).__name__


def answer(base: str, method: str, path: str, body: Any) -> tuple[int, Any]:
    """(status, the body's shape); a body that is not JSON is 'not JSON'."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SuiteError(f"{base}: {method} {path} got no answer ({exc})") from None
    try:
        return status, shape(json.loads(raw)) if raw else None
    except ValueError:
        return status, "not JSON"


def check(baseline: ServiceUnderTest, targets: list[ServiceUnderTest]) -> None:
    """Raise SuiteError at the first request a target answers unlike the baseline."""
    expected = {(m, p): answer(baseline.url, m, p, b) for m, p, b in PROBES}
    for target in targets:
        for method, path, body in PROBES:
            got = answer(target.url, method, path, body)
            status, want = got[0], expected[method, path]
            if got == want:
                continue
            what = (
                f"status {status}, the baseline's {want[0]}"
                if status != want[0]
                else f"a body shaped {json.dumps(got[1])[:120]}, the baseline's "
                f"{json.dumps(want[1])[:120]}"
            )
            raise SuiteError(
                f"{target.label} at {target.url} answers unlike {baseline.label}: "
                f"{method} {path} gave {what}"
            )
