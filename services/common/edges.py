"""Request shapes HTTP leaves to the server, answered one way by both services.

Werkzeug (with gunicorn) and Starlette (with uvicorn) choose differently wherever HTTP
lets a server choose: a query parameter given twice, slashes, HEAD, the ``Allow`` header
of a 405, a body that is not UTF-8, the size of a request line. Each choice is made here
once; each service applies it where its framework needs telling (most rules are what
one of the two frameworks already does), and ``tests/test_contract.py`` sends every
shape to every variant.

The rules, with an example of each (request: answer on both services):

* ``/users?limit=5&limit=7``: the last value counts (limit 7).
* ``/users/``, ``/users/1/``: 404; a trailing slash makes another path, no redirect.
* ``//users/1``, ``/users//1``, ``/orders//summary``: 404; slashes are not merged.
* ``/users%2F1``: decoded before routing, so ``/users/1``.
* ``/users/007``, ``/users/+7``, ``/users/%207``: pydantic's lax integers, user 7.
* ``/users/abc``, ``/users/2147483648``, 5,000 digits: 422 (ids are PostgreSQL integers).
* ``?active=yes``: true; ``?active=``: 422; ``?unknown=1``: ignored.
* ``HEAD`` on a GET route: the GET answer without its body.
* ``OPTIONS``, ``DELETE`` ... on a route: 405 with ``Allow`` listing every method of
  the path, sorted (``GET, HEAD, PATCH``).
* A JSON body that is not UTF-8: 422 ``json_invalid``; JSON ``null``: validated as a
  value; an empty body: 422 ``missing``; any other content type: text, so 422.
* ``{"name": "a\\u0000b"}``: 422, PostgreSQL text cannot hold NUL (``schemas.py``).
* A URL up to 64 KiB, headers of any size: the application answers, on both servers.
* ``/openapi.json``, ``/docs``: 404; the routes are the contract's only (FastAPI's
  document is ``create_app().openapi()``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from email.message import Message
from typing import Any, Final

from services.common.errors import malformed_json

# -- routing ----------------------------------------------------------------------------

# "//users/1" and "/users//1" are not "/users/1" (Werkzeug would merge and redirect).
MERGE_SLASHES: Final = False
EMPTY_SEGMENT: Final = "//"


def has_empty_segment(path: str) -> bool:
    """True for a path no route can have: Werkzeug drops leading slashes before it
    matches, so "//users/1" would find ``/users/<id>`` even without merging."""
    return EMPTY_SEGMENT in path


# "/users/" is not "/users" (Starlette would redirect).
REDIRECT_SLASHES: Final = False
# Methods a route answers besides those it declares: HEAD wherever GET is (RFC 9110
# 9.3.2). Werkzeug adds it to every GET rule; FastAPI gets a HEAD twin of each GET route.
IMPLIED_METHODS: Final[dict[str, frozenset[str]]] = {"GET": frozenset({"HEAD"})}


def implied_methods(methods: Iterable[str]) -> frozenset[str]:
    """The methods a route declaring ``methods`` also answers."""
    return frozenset().union(*(IMPLIED_METHODS.get(method, ()) for method in methods))


def allow_header(methods: Iterable[str]) -> str:
    """The ``Allow`` header of a 405: every method of every route at the path, sorted
    (Werkzeug lists them in set order, Starlette only the first matching route's)."""
    return ", ".join(sorted(set(methods)))


# -- query strings ----------------------------------------------------------------------


def query_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """One value per query parameter: the last one given, as Starlette reads a scalar
    parameter (Werkzeug's ``to_dict()`` would keep the first)."""
    return dict(pairs)


# -- bodies -----------------------------------------------------------------------------

# An empty body: "missing", unlike a JSON ``null``, which is validated as a value.
NO_BODY: Final = object()


def is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json``, parameters ignored (FastAPI's test)."""
    if not content_type:
        return False
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def read_body(raw: bytes, content_type: str | None) -> Any:
    """The request body as the endpoint validates it: ``NO_BODY`` when empty, parsed when
    it is JSON, else the raw text (which fails validation as "not an object"). JSON that
    cannot be decoded, invalid UTF-8 included, is malformed: FastAPI's own answer to
    non-UTF-8 JSON (400 "There was an error parsing the body") becomes this one."""
    if not raw:
        return NO_BODY
    if not is_json(content_type):
        return raw.decode("utf-8", errors="replace")
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        raise malformed_json() from None


# Status FastAPI answers on its own when json.loads fails on anything but a syntax
# error; both services answer it as malformed JSON instead.
FASTAPI_BODY_PARSE_STATUS: Final = 400

# -- the HTTP servers' own limits -------------------------------------------------------

# uvicorn's parser (httptools) takes a request target of up to 64 KiB and headers of any
# size and number. gunicorn answers 414 or 431 with an HTML page far sooner (4 KiB of
# request line, 8 KiB per header, 100 headers), so it is told to allow what uvicorn
# allows, up to its own maxima: a long URL or cookie then reaches both applications.
REQUEST_LINE_LIMIT: Final = 0  # gunicorn: 0 is unlimited
HEADER_FIELD_LIMIT: Final = 1 << 20  # bytes per header line
HEADER_FIELDS_LIMIT: Final = 32768  # gunicorn's maximum
