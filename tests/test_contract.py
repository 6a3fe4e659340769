"""Every built-in variant, running for real, answers the same requests identically.

Every request is sent to each of the eight variants in turn (they share one database,
so writes are idempotent or compared with their fresh ids and timestamps removed);
status codes and bodies must be byte-identical, and must be what the contract says.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import SMALL_SEED, http

MISSING_USER = SMALL_SEED.users + 1000
MISSING_ORDER = SMALL_SEED.orders + 100_000
MISSING_PRODUCT = SMALL_SEED.products + 1
JSON = {"content-type": "application/json"}

# (method, path, body, headers, expected status)
Case = tuple[str, str, Any, dict[str, str] | None, int]

NEW_ORDER: Case = (
    "POST", "/orders",
    {"customer_id": 1, "items": [{"product_id": 1, "quantity": 2}, {"product_id": 3, "quantity": 1}]},
    JSON, 201,
)  # fmt: skip
UNKNOWN_REFERENCES: Case = (
    "POST", "/orders",
    {"customer_id": SMALL_SEED.customers + 1, "items": [{"product_id": MISSING_PRODUCT, "quantity": 1}]},
    JSON, 422,
)  # fmt: skip

CASES: list[Case] = [
    ("GET", "/health", None, None, 200),
    # users: one row
    ("GET", "/users/1", None, None, 200),
    ("GET", f"/users/{MISSING_USER}", None, None, 404),
    ("GET", "/users/abc", None, None, 422),
    ("GET", "/users/0", None, None, 422),
    ("GET", "/users/-1", None, None, 422),
    ("GET", "/users/1.5", None, None, 422),
    ("GET", "/users/99999999999", None, None, 422),  # beyond PostgreSQL integer
    # users: rename (1 SELECT + 1 UPDATE)
    ("PATCH", "/users/2", {"name": "Renamed Twice"}, JSON, 200),
    ("PATCH", f"/users/{MISSING_USER}", {"name": "Nobody"}, JSON, 404),
    ("PATCH", "/users/2", {"name": ""}, JSON, 422),
    ("PATCH", "/users/2", {"name": "x" * 101}, JSON, 422),
    ("PATCH", "/users/2", {"name": 5}, JSON, 422),
    ("PATCH", "/users/2", {"name": None}, JSON, 422),
    ("PATCH", "/users/2", {"name": "ok", "admin": True}, JSON, 422),
    ("PATCH", "/users/2", {}, JSON, 422),
    ("PATCH", "/users/2", [1, 2], JSON, 422),
    ("PATCH", "/users/2", b'{"name": ', JSON, 422),
    ("PATCH", "/users/2", None, JSON, 422),
    ("PATCH", "/users/2", b"name=plain", {"content-type": "text/plain"}, 422),
    ("PATCH", "/users/abc", {"name": ""}, JSON, 422),  # path and body errors together
    ("PATCH", "/users/abc", b"{oops", JSON, 422),  # malformed JSON is reported alone
    # users: keyset pages
    ("GET", "/users", None, None, 200),
    ("GET", "/users?limit=5", None, None, 200),
    ("GET", "/users?limit=3&after_id=10", None, None, 200),
    ("GET", "/users?active=true&limit=4", None, None, 200),
    ("GET", "/users?active=false&limit=4", None, None, 200),
    ("GET", f"/users?after_id={SMALL_SEED.users}", None, None, 200),
    ("GET", "/users?limit=0", None, None, 422),
    ("GET", "/users?limit=101", None, None, 422),
    ("GET", "/users?limit=abc", None, None, 422),
    ("GET", "/users?active=maybe", None, None, 422),
    ("GET", "/users?after_id=-1&limit=0", None, None, 422),
    # orders: the eager-loaded read, the summary, pages
    ("GET", "/orders/1", None, None, 200),
    ("GET", "/orders/17", None, None, 200),
    ("GET", f"/orders/{MISSING_ORDER}", None, None, 404),
    ("GET", "/orders/abc", None, None, 422),
    ("GET", "/orders/1/summary", None, None, 200),
    ("GET", f"/orders/{MISSING_ORDER}/summary", None, None, 404),
    ("GET", "/orders/abc/summary", None, None, 422),
    ("GET", "/orders?limit=3", None, None, 200),
    ("GET", "/orders?status=shipped&limit=2", None, None, 200),
    ("GET", "/orders?status=lost", None, None, 422),
    ("GET", "/orders?limit=1000", None, None, 422),
    # orders: the unit-of-work insert
    NEW_ORDER,
    ("POST", "/orders", {"customer_id": SMALL_SEED.customers + 1,
                         "items": [{"product_id": 1, "quantity": 1}]}, JSON, 422),
    ("POST", "/orders", {"customer_id": 1, "items": [{"product_id": 1, "quantity": 1},
                                                     {"product_id": MISSING_PRODUCT, "quantity": 1}]},
     JSON, 422),
    UNKNOWN_REFERENCES,
    ("POST", "/orders", {"customer_id": 1, "items": []}, JSON, 422),
    ("POST", "/orders", {"customer_id": 1, "items": [{"product_id": 1, "quantity": 0}]}, JSON, 422),
    ("POST", "/orders", {"customer_id": "abc", "items": "none"}, JSON, 422),
    ("POST", "/orders", {"customer_id": 1, "items": [{"product_id": 1, "quantity": 1}],
                         "discount": 5}, JSON, 422),
    ("POST", "/orders", b"[", JSON, 422),
    ("POST", "/orders", None, JSON, 422),
    # routing
    ("GET", "/nope", None, None, 404),
    ("GET", "/users/", None, None, 404),
    ("DELETE", "/users/1", None, None, 405),
    ("OPTIONS", "/users/1", None, None, 405),
    ("PUT", "/orders", None, None, 405),
]  # fmt: skip

# Request shapes HTTP leaves to the server, one rule each (services/common/edges.py).
EDGES: list[Case] = [
    # a query parameter given twice: the last value counts
    ("GET", "/users?limit=500&limit=2", None, None, 200),
    ("GET", "/users?limit=2&limit=500", None, None, 422),
    ("GET", "/orders?status=lost&status=shipped&limit=1", None, None, 200),
    ("GET", "/orders?status=shipped&status=lost", None, None, 422),
    # slashes: paths match exactly, nothing is merged or redirected
    ("GET", "/users/1/", None, None, 404),
    ("GET", "/orders/", None, None, 404),
    ("GET", "/orders/1/summary/", None, None, 404),
    ("GET", "/health/", None, None, 404),
    ("GET", "//users/1", None, None, 404),
    ("GET", "//health", None, None, 404),
    ("GET", "/users//1", None, None, 404),
    ("GET", "/orders//summary", None, None, 404),
    ("GET", "/orders/1//summary", None, None, 404),
    ("PATCH", "/users//3", {"name": "Slashed"}, JSON, 404),
    # percent-encoding is decoded before routing
    ("GET", "/users/%31", None, None, 200),
    ("GET", "/users%2F1", None, None, 200),
    ("GET", "/users/1%2F", None, None, 404),
    ("GET", "/users/%C3%A9", None, None, 422),
    ("GET", "/users/\u00e9", None, None, 422),
    ("GET", "/users/%00", None, None, 422),
    ("GET", "/users/%ff", None, None, 422),
    ("GET", "/users/%zz", None, None, 422),
    # ids: pydantic's lax integers, bounded to PostgreSQL's integer
    ("GET", "/users/007", None, None, 200),
    ("GET", "/users/+7", None, None, 200),
    ("GET", "/users/%207", None, None, 200),
    ("GET", "/users/7%20", None, None, 200),
    ("GET", "/users/1_0", None, None, 200),
    ("GET", "/users/7.0", None, None, 200),
    ("GET", "/users/1e1", None, None, 422),
    ("GET", "/users/2147483648", None, None, 422),
    ("GET", "/users/9223372036854775808", None, None, 422),
    ("GET", "/orders/-0/summary", None, None, 422),
    ("GET", "/users/" + "9" * 5000, None, None, 422),  # beyond gunicorn's default 4 KiB line
    # query values
    ("GET", "/users?active=yes&limit=2", None, None, 200),
    ("GET", "/users?active=0&limit=2", None, None, 200),
    ("GET", "/users?active=&limit=2", None, None, 422),
    ("GET", "/users?limit=", None, None, 422),
    ("GET", "/users?limit", None, None, 422),
    ("GET", "/users?limit=+5", None, None, 200),
    ("GET", "/users?limit=05&after_id=007", None, None, 200),
    ("GET", "/users?limit=5.0", None, None, 200),
    ("GET", "/users?limit=%FF", None, None, 422),
    ("GET", "/users?lim%69t=2", None, None, 200),
    ("GET", "/users?&&limit=2&", None, None, 200),
    ("GET", "/users?unknown=1&limit=2", None, None, 200),
    ("GET", "/users?limit=2;after_id=3", None, None, 422),
    ("GET", "/orders?status=SHIPPED", None, None, 422),
    ("GET", "/orders?status=", None, None, 422),
    ("GET", "/users/1?limit=abc", None, None, 200),  # no such parameter here
    ("GET", "/users?limit=2&x=" + "a" * 20_000, None, None, 200),  # a 20 KB URL
    # headers the servers must let through
    ("GET", "/users/1", None, {"x-big": "a" * 10_000}, 200),
    ("GET", "/users/1", None, {f"x-header-{i}": "1" for i in range(150)}, 200),
    # bodies
    ("PATCH", "/users/3", b'{"name": "\xff"}', JSON, 422),  # not UTF-8
    ("PATCH", "/users/3", b"\xff\xfe{", JSON, 422),
    ("PATCH", "/users/3", b"null", JSON, 422),  # a value, not a missing body
    ("PATCH", "/users/3", b'"Edge"', JSON, 422),
    ("PATCH", "/users/3", b" ", JSON, 422),
    ("PATCH", "/users/3", b'{"name": "a\\u0000b"}', JSON, 422),  # PostgreSQL text has no NUL
    ("PATCH", "/users/3", b'{"name": "\\ud800"}', JSON, 422),
    ("PATCH", "/users/3", b'{"name": "Dup", "name": "Edge Last"}', JSON, 200),
    ("PATCH", "/users/3", b'{"name": "Edge Latin"}',
     {"content-type": "application/json; charset=latin-1"}, 200),
    ("PATCH", "/users/3", b'{"name": "Edge Merge"}',
     {"content-type": "application/merge-patch+json"}, 200),
    ("PATCH", "/users/3", b'{"name": "Edge Upper"}', {"content-type": "APPLICATION/JSON"}, 200),
    ("PATCH", "/users/3", b'{"name": "No Type"}', {}, 422),
    ("PATCH", "/users/3", b'{"name": "Form"}',
     {"content-type": "application/x-www-form-urlencoded"}, 422),
    ("PATCH", "/users/3", b"name=Form", {"content-type": "application/x-www-form-urlencoded"}, 422),
    ("PATCH", "/users/3", b'{"name": "Multi"}', {"content-type": "multipart/form-data; boundary=x"},
     422),
    ("POST", "/orders", b'{"customer_id": 1e400, "items": [{"product_id": 1, "quantity": 1}]}',
     JSON, 422),
    ("POST", "/orders", b'{"customer_id": 1, "items": [{"product_id": 1, "quantity": 1.5}]}',
     JSON, 422),
    ("GET", "/users/1", b"{oops", JSON, 200),  # a body on a GET is ignored
    # methods: HEAD wherever GET is; 405 lists every method of the path
    ("HEAD", "/users/1", None, None, 200),
    ("HEAD", "/health", None, None, 200),
    ("HEAD", "/orders?limit=2", None, None, 200),
    ("HEAD", "/users/abc", None, None, 422),
    ("HEAD", f"/orders/{MISSING_ORDER}/summary", None, None, 404),
    ("HEAD", "/nope", None, None, 404),
    ("OPTIONS", "/orders", None, None, 405),
    ("DELETE", "/orders/1", None, None, 405),
    ("POST", "/users/1", None, None, 405),
    ("PATCH", "/users", {"name": "All"}, JSON, 405),
    ("PUT", "/health", None, None, 405),
    ("TRACE", "/orders/1/summary", None, None, 405),
    ("PROPFIND", "/users/1", None, None, 405),
    # the contract's routes only
    ("GET", "/openapi.json", None, None, 404),
    ("GET", "/docs", None, None, 404),
    ("GET", "/redoc", None, None, 404),
]  # fmt: skip

# Allow header of a 405: every method of every route at the path, sorted.
ALLOW = {"/users/1": "GET, HEAD, PATCH", "/users": "GET, HEAD", "/orders": "GET, HEAD, POST",
         "/orders/1": "GET, HEAD", "/orders/1/summary": "GET, HEAD", "/health": "GET, HEAD"}  # fmt: skip

# Fields that differ between two equal POSTs: the new rows' ids and timestamps.
FRESH = ("id", "created_at", "updated_at")


def _send(base: str, case: Case) -> httpx.Response:
    method, path, body, headers, _ = case
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    return http().request(method, base + path, content=content, headers=headers)


def _comparable(body: Any, created: bool) -> Any:
    if not created:
        return body
    body = {k: v for k, v in body.items() if k not in FRESH}
    body["items"] = [{k: v for k, v in item.items() if k != "id"} for item in body["items"]]
    return body


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]} {c[1]} #{i}" for i, c in enumerate(CASES)])
def test_every_variant_answers_identically(case: Case, running) -> None:
    expected = case[4]
    answers = {name: _send(service.url, case) for name, service in running.items()}
    for name, response in answers.items():
        assert response.status_code == expected, (name, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json", (name, response.text)
    created = expected == 201
    flask = answers["flask"].json()
    for name, response in answers.items():
        assert _comparable(response.json(), created) == _comparable(flask, created), name
        if not created:
            assert response.content == answers["flask"].content, f"{name}: bodies differ in bytes"
    if expected in (404, 405, 503):
        assert isinstance(flask["detail"], str)
    if expected == 422:
        assert flask["detail"] and all(set(e) == {"type", "loc", "msg"} for e in flask["detail"])


@pytest.mark.parametrize(
    "case", EDGES, ids=[f"{c[0]} {c[1][:40]} #{i}" for i, c in enumerate(EDGES)]
)
def test_edge_requests_get_one_answer(case: Case, running) -> None:
    method, path, _, _, expected = case
    answers = {name: _send(service.url, case) for name, service in running.items()}
    flask = answers["flask"]
    for name, response in answers.items():
        assert response.status_code == expected, (name, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json", (name, response.text)
        assert response.content == flask.content, f"{name}: {response.text} != {flask.text}"
        assert response.headers.get("allow") == flask.headers.get("allow"), name
    if method == "HEAD":
        assert flask.content == b""
        full = http().get(running["flask"].url + path)
        assert full.status_code == expected and full.content
        for name, response in answers.items():
            assert response.headers["content-length"] == str(len(full.content)), name
    elif expected == 405:
        assert flask.headers["allow"] == ALLOW[path], flask.headers["allow"]
    else:
        body = flask.json()
        if expected == 422:
            assert body["detail"] and all(set(e) == {"type", "loc", "msg"} for e in body["detail"])
        elif expected == 404:
            assert isinstance(body["detail"], str)


def test_error_details_name_the_problem(two) -> None:
    for service in two.values():
        body = _send(service.url, ("PATCH", "/users/abc", {"name": ""}, JSON, 422)).json()
        assert [e["loc"] for e in body["detail"]] == [["path", "user_id"], ["body", "name"]]
        body = _send(service.url, UNKNOWN_REFERENCES).json()
        assert [e["loc"] for e in body["detail"]] == [
            ["body", "customer_id"],
            ["body", "items", 0, "product_id"],
        ]
        assert all(e["type"] == "not_found" for e in body["detail"])


def test_created_orders_are_complete_and_priced_from_the_catalogue(running) -> None:
    for service in running.values():
        created = _send(service.url, NEW_ORDER).json()
        assert created["status"] == "pending" and created["customer"]["id"] == 1
        assert created["total_cents"] == sum(
            item["quantity"] * item["product"]["price_cents"] for item in created["items"]
        )
        again = httpx.get(f"{service.url}/orders/{created['id']}").json()
        assert again == created
        assert created["created_at"].endswith("Z") and created["id"] > SMALL_SEED.orders


def test_keyset_pages_walk_every_user_once(running) -> None:
    """Every variant: raw SQL pages exactly as the ORM's statement does."""
    for service in running.values():
        seen: list[int] = []
        after = 0
        while True:
            page = httpx.get(f"{service.url}/users", params={"limit": 100, "after_id": after})
            body = page.json()
            seen += [user["id"] for user in body["items"]]
            if body["next_after_id"] is None:
                break
            after = body["next_after_id"]
        assert seen == list(range(1, SMALL_SEED.users + 1))


def test_orjson_encoder_gives_the_same_bytes_on_both(seeded, tmp_path) -> None:
    from tests.conftest import start_service

    started = [
        start_service(name, seeded, tmp_path, JSON_ENCODER="orjson")
        for name in ("flask", "fastapi")
    ]
    try:
        for case in (CASES[1], CASES[11], ("GET", "/orders/17", None, None, 200), CASES[-3]):
            flask, fastapi = (_send(service.url, case) for service in started)
            assert flask.status_code == fastapi.status_code == case[4]
            assert flask.content == fastapi.content
    finally:
        for service in started:
            service.stop()
