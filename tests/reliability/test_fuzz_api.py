"""Schemathesis against the API's own OpenAPI schema, over HTTP to a real ``outagecast serve``.

Every operation of ``/openapi.json`` gets up to ``MAX_EXAMPLES`` generated requests (valid and
invalid: schemathesis 4 generates both "positive" and "negative" cases) and every response goes
through schemathesis' checks: no 5xx, status code documented, content type and body conforming
to the declared schema, headers, and negative data rejected. The server runs on PostgreSQL (a
fresh database), where hostile strings meet the real driver and server (NUL bytes, huge numbers).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from bench.loadtest import fresh_postgres_database
from tests.reliability.fuzzing import EXPLORE, examples
from tests.utils.server import RunningServer, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MAX_EXAMPLES = examples(20)  # per operation: bounded, so CI time stays at a few seconds per endpoint
EXAMPLES: Counter[str] = Counter()  # requests sent per operation, printed at the end


@pytest.fixture(scope="module")
def fuzz_server(trained_home: Path) -> Iterator[RunningServer]:
    with fresh_postgres_database() as database_url:
        server = start_server(
            home=trained_home,
            env={"DATABASE_URL": database_url, "MODEL_REFRESH_SECONDS": "0", "LOG_LEVEL": "WARNING"},
            log_path=trained_home / "fuzz-api.log",
        )
        try:
            yield server
        finally:
            server.stop()


def _own_schema() -> dict:
    """The OpenAPI document the app serves at /openapi.json, built from the same code, no I/O.

    Loaded at import, not from the running server: schemathesis' lazy ``from_fixture`` loader
    reads a pytest attribute (``Function._nodeid``) that pytest 9 no longer has. The requests
    still go to the real server (``base_url``).
    """
    from outagecast.api.app import create_app
    from outagecast.settings import Settings

    document = create_app(Settings(), load_model=False).openapi()
    # The fuzzed server runs without API_KEY, so the key is not required and the optional security
    # scheme would only make schemathesis expect 401s that this configuration rightly never sends.
    # Authentication has its own tests (tests/api/test_security.py).
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    document.get("components", {}).pop("securitySchemes", None)
    return document


schema = schemathesis.openapi.from_dict(_own_schema())


@pytest.fixture(scope="module", autouse=True)
def _report_examples() -> Iterator[None]:
    """Print how many requests each operation got, once the module's tests ran (use -s to see it)."""
    yield
    documented = {f"{o.method.upper()} {o.path}" for o in (r.ok() for r in schema.get_all_operations())}
    sent = {op: n for op, n in sorted(EXAMPLES.items()) if op in documented}
    probes = sum(n for op, n in EXAMPLES.items() if op not in documented)
    print(f"\nschemathesis requests per documented operation: {sent}")
    print(f"total {sum(sent.values())} over {len(sent)} operations, plus {probes} undocumented-method probes")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=not EXPLORE,  # the same examples every CI run (tests/reliability/fuzzing.py)
    deadline=None,  # a cold model call may take longer than hypothesis' 200 ms default
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, fuzz_server: RunningServer) -> None:
    EXAMPLES[f"{case.method} {case.path}"] += 1
    # positive_data_acceptance is left out: it assumes every schema-valid request must succeed, but
    # the API has cross-field rules a schema cannot state (start_date <= end_date; /what-if values
    # must suit the input named by `vary`), which rightly answer 422. Every other check applies.
    case.call_and_validate(base_url=fuzz_server.url, timeout=60, excluded_checks=[positive_data_acceptance])


ROW = {
    "cloud_provider": "AWS",
    "service": "Compute",
    "severity": "High",
    "number_of_customers_affected": 1200,
    "ticket_count": 35,
    "backup_system_triggered": "Yes",
}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # Each of these was a 500 or a 503 ("database unavailable, retry") before the fixes.
        ("POST", "/predict", {"features": [{**ROW, "number_of_customers_affected": 10**12}]}),
        ("POST", "/predict", {"features": [{**ROW, "start_time": "0001-02-17T14:10:59Z"}]}),
        ("GET", "/past-predictions?model_version=a%00b", None),
        ("GET", f"/ingestion-stats/{10**22}/bad-rows", None),
        ("POST", "/predict", {"features": [{**ROW, "incident_id": "\udbe4"}]}),  # a lone surrogate
        ("POST", "/predict", {"features": [{**ROW, "incident_id": "a\x00b"}]}),
        # Accepted silently before: JSON booleans as counts, numbers as dates.
        ("POST", "/predict", {"features": [{**ROW, "ticket_count": True}]}),
        ("POST", "/predict", {"features": [{**ROW, "start_time": 0}]}),
        ("GET", "/past-predictions?start_date=0", None),
    ],
)
def test_hostile_values_are_refused_with_422(
    fuzz_server: RunningServer, method: str, path: str, body: dict | None
) -> None:
    # json.dumps escapes to ASCII ("\\udbe4"), as a client would send a lone surrogate; httpx's own
    # encoder would refuse to encode it.
    content = json.dumps(body) if body is not None else None
    headers = {"content-type": "application/json"} if body is not None else {}
    response = httpx.request(method, fuzz_server.url + path, content=content, headers=headers, timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["msg"]
