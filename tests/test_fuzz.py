"""Fuzzing from the outside: requests generated from FastAPI's OpenAPI document.

schemathesis turns the document into Hypothesis strategies, valid and invalid requests
for every operation. Each generated request goes to both real services (Flask first,
then FastAPI) and must get: no server error, the same status and (but for the new
rows of a 201) the same body from both, and an answer that conforms to the document
(a documented status, content type and body schema; invalid input rejected). The
examples are derandomized, so every run sends the same requests.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loadtests.infra import database
from services.fastapi_async.app import create_app

EXAMPLES = 1_100  # each one sent to both services
REQUIRED = 1_000
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Not checked: positive_data_acceptance. Ids that satisfy the schema mostly name rows
# that do not exist, which the contract answers with 404, or 422 in a new order's body.


def _label(case: schemathesis.Case) -> str:
    return case.as_curl_command()


@pytest.mark.slow
def test_generated_requests_get_the_same_answer_from_both(two, seeded, capsys) -> None:
    schema = schemathesis.openapi.from_dict(create_app(two["fastapi"].settings).openapi())
    strategy = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
    )
    sessions = {name: requests.Session() for name in two}
    statuses: dict[str, Counter[int]] = {name: Counter() for name in two}
    problems: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every problem is listed
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exchange(case: schemathesis.Case) -> None:
        answers: dict[str, Any] = {}
        for name, service in two.items():
            response = case.call(base_url=service.url, session=sessions[name], timeout=15)
            answers[name] = response
            statuses[name][response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as failures:
                problems.append(f"{name}: {failures.exceptions[0]!s:.300} <- {_label(case)}")
        flask, fastapi = answers["flask"], answers["fastapi"]
        if flask.status_code != fastapi.status_code:
            problems.append(
                f"status {flask.status_code} (flask) != {fastapi.status_code} (fastapi) "
                f"<- {_label(case)}"
            )
        elif flask.status_code != 201 and flask.content != fastapi.content:
            problems.append(
                f"bodies differ: {flask.text[:200]} != {fastapi.text[:200]} <- {_label(case)}"
            )

    try:
        exchange()
    finally:
        for session in sessions.values():
            session.close()
        database.reset(seeded)  # the fuzzer renamed users and created orders
    sent = {name: sum(counts.values()) for name, counts in statuses.items()}
    server_errors = {
        name: sum(n for status, n in counts.items() if status >= 500)
        for name, counts in statuses.items()
    }
    with capsys.disabled():
        print(f"\nfuzz: requests per service {sent}; server errors {server_errors}; problems "
              f"{len(problems)} (status or body mismatches and failed schema checks)")  # fmt: skip
        for name, counts in statuses.items():
            print(f"fuzz: {name} statuses {dict(sorted(counts.items()))}")
    assert not problems, "\n".join(problems[:20])
    assert all(n >= REQUIRED for n in sent.values()), sent
    assert not any(server_errors.values()), server_errors
