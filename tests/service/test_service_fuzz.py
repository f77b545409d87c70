"""Schemathesis against the capped stack's service: every operation of its ``/openapi.json``.

The service runs in its container (the `stack` fixture, 1 GiB cap) on the seeded data set.
Schemathesis generates requests from the document, valid ones and invalid ones, sends them
with the bearer token of an account of this module's own, and runs its default checks on
every answer: no 5xx (``not_a_server_error``), status codes, content types, headers and
bodies as documented (``response_schema_conformance``), invalid data refused, valid data
accepted, operations that need a token refusing a request without one.

Bounded for ``make test``: `EXAMPLES` requests an operation and generation mode,
derandomised, so every run sends the same requests. The test prints how many it sent. Run
it alone with ``pytest tests/service/test_service_fuzz.py``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema

from containers.stack import Stack
from service.seed import seed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

#: Requests generated an operation in the fuzzing phase.
EXAMPLES = 25
#: The data set the other tests of the `stack` seed too: seeding it again is a no-op.
RESTAURANTS, USERS, ORDERS, SEED = 300, 60, 600, 13


@pytest.fixture(scope="module")
def fuzz_url(stack: Stack) -> str:
    """The stack's service, on the shared seeded data set."""
    if not seed(
        stack.postgres_url, restaurants=RESTAURANTS, users=USERS, orders=ORDERS, seed=SEED
    ).skipped:
        stack.restart_services()  # fresh replicas load the seeded restaurants at start-up
    return stack.service_url


@pytest.fixture(scope="module")
def fuzz_token(fuzz_url: str) -> str:
    """The bearer token of an account only this module uses: whatever the fuzz orders,
    deletes or onboards touches no seeded diner another test logs in as."""
    email = f"fuzz-{secrets.token_hex(4)}@tastematch.test"
    response = httpx.post(
        f"{fuzz_url}/auth/register",
        json={"email": email, "name": "Fuzz", "password": "fuzz-password"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


#: Schemathesis's defaults, every check on, with these exceptions, each the narrowest that
#: works:
#: - A valid body may still name what the data refuses: an email already registered, a
#:   restaurant that does not exist (400, documented).
#: - An order's ``order_date`` must lie from 2000 to a day ahead of now, which JSON Schema
#:   cannot state for a date-time: the generated dates of year 1 to 9999 are refused with
#:   422, so valid-data acceptance is not judged on ``POST /api/orders`` (every other
#:   check is; test_service_hostile_input.py holds the dates).
#: The token goes through the document's bearer scheme, so that the invalid requests
#: without one are sent without it.
CONFIG = """
[auth]
auto-signup = false

[auth.openapi.HTTPBearer]
bearer = "{token}"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-path = "/api/orders"
include-method = "POST"
checks.positive_data_acceptance.enabled = false
"""


@pytest.fixture(scope="module")
def api_schema(fuzz_url: str, fuzz_token: str) -> BaseSchema:
    """The service's own OpenAPI document, as it serves it."""
    config = SchemathesisConfig.from_str(CONFIG.format(token=fuzz_token))
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json", config=config, timeout=30)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _fuzz(operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode) -> int:
    """Send `EXAMPLES` requests generated for ``operation``; how many were sent. Raises the
    first failed check (of the shrunk example)."""
    sent = 0

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(timeout=30)

    try:
        run()
    except Unsatisfiable:
        # No invalid request exists for an operation without parameters, body or token
        # (/health, /metrics); hypothesis proved it by trying every input.
        if mode is GenerationMode.POSITIVE:
            raise
    return sent


def test_every_operation_survives_generated_requests(
    api_schema: BaseSchema, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: dict[str, int] = {}
    failures: list[str] = []
    started = time.monotonic()
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the document is valid OpenAPI
        operation = result.ok()
        for mode in GenerationMode:
            label = f"{operation.label} ({mode.value})"
            try:
                sent[label] = _fuzz(operation, mode)
            except (Exception, FailureGroup) as failure:  # report, go on to the next
                failures.append(f"{label}: {failure}")
    with capsys.disabled():
        print(
            f"\nschemathesis: {sum(sent.values())} cases, {len(sent)} operation x mode runs, "
            f"{time.monotonic() - started:.0f} s"
        )
    assert not failures, "\n\n".join(failures)
    assert len(sent) == 2 * len(list(api_schema.get_all_operations()))
