"""SQL injection through every parameter of every GET endpoint, on SQLite and PostgreSQL.

The endpoints and their parameters come from the running server's OpenAPI schema, so a read
endpoint added later (monitoring, say) is attacked too without editing this file. Every answer
must be a refusal (4xx) or a normal 200 with no more rows than the same request without the
payload; afterwards every table is still there and ``predictions`` holds exactly what it held.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.pool import NullPool

from outagecast.db.models import Prediction
from tests.utils.server import RunningServer

PAYLOADS = (
    "' OR 1=1 --",
    "1; DROP TABLE predictions",
    "1' OR '1'='1",
    '" OR ""="',
    "') OR ('a'='a",
    "1 UNION SELECT * FROM predictions --",
    "%' --",
    "webapp' OR source LIKE '%",
    "0 OR 1=1",
)
ROW = {
    "cloud_provider": "GCP",
    "service": "Storage",
    "severity": "Low",
    "number_of_customers_affected": 10,
    "ticket_count": 2,
    "backup_system_triggered": "No",
}


@dataclass(frozen=True)
class Target:
    server: RunningServer
    database_url: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, trained_home: Path) -> Target:
    """A shared API server and the database it uses."""
    server = request.getfixturevalue(f"{request.param}_server")
    url = (
        f"sqlite:///{trained_home}/api.db"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    return Target(server, url)


@dataclass(frozen=True)
class Snapshot:
    tables: frozenset[str]
    predictions: int


def _snapshot(database_url: str) -> Snapshot:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            tables = frozenset(inspect(connection).get_table_names())
            count = connection.execute(select(func.count()).select_from(Prediction)).scalar_one()
        return Snapshot(tables, count)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Parameter:
    path: str  # template, e.g. /ingestion-stats/{stat_id}/bad-rows
    name: str
    location: str  # "query" or "path"


def _get_parameters(base_url: str) -> list[Parameter]:
    schema = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    found = []
    for path, item in schema["paths"].items():
        operation = item.get("get")
        if operation is None:
            continue
        for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
            if parameter["in"] in ("query", "path"):
                found.append(Parameter(path, parameter["name"], parameter["in"]))
    return found


def _url(parameter: Parameter, value: str | None) -> tuple[str, dict[str, str]]:
    """The path (path parameters filled: this one with ``value``, others with 1) and the query."""
    path = parameter.path
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            filled = value if (parameter.location == "path" and name == parameter.name) else "1"
            path = path.replace(part, quote(filled if filled is not None else "1", safe=""))
    query = {parameter.name: value} if parameter.location == "query" and value is not None else {}
    return path, query


def _rows(response: httpx.Response) -> int | None:
    body = response.json()
    return len(body) if isinstance(body, list) else None


@pytest.fixture(scope="module")
def seeded(target: Target) -> Iterator[Target]:
    """The target with predictions of both sources stored."""
    for source in ("webapp", "scheduled"):
        response = httpx.post(
            f"{target.server.url}/predict", json={"features": [ROW] * 3, "source": source}, timeout=60
        )
        assert response.status_code == 200, response.text
    yield target


def test_every_get_parameter_resists_sql_injection(seeded: Target) -> None:
    before = _snapshot(seeded.database_url)
    assert before.predictions >= 6 and "predictions" in before.tables
    parameters = _get_parameters(seeded.server.url)
    names = {(p.path, p.name) for p in parameters}
    # The schema is really read: the endpoints known today are there.
    assert {("/past-predictions", "model_version"), ("/past-predictions", "source")} <= names
    attacked = 0
    with httpx.Client(base_url=seeded.server.url, timeout=60) as client:
        for parameter in parameters:
            path, query = _url(parameter, None)
            baseline = client.get(path, params=query)
            baseline_rows = _rows(baseline) if baseline.status_code == 200 else None
            for payload in PAYLOADS:
                path, query = _url(parameter, payload)
                response = client.get(path, params=query)
                where = f"{parameter.location} {parameter.name}={payload!r} on {parameter.path}"
                assert response.status_code == 200 or 400 <= response.status_code < 500, (
                    f"{where}: {response.status_code} {response.text[:300]}"
                )
                if response.status_code == 200 and baseline_rows is not None:
                    rows = _rows(response)
                    assert rows is None or rows <= baseline_rows, f"{where}: {rows} rows > {baseline_rows}"
                attacked += 1
    assert attacked >= len(PAYLOADS) * 5
    after = _snapshot(seeded.database_url)
    assert after.tables == before.tables
    assert after.predictions == before.predictions


def test_a_quote_in_a_text_filter_matches_nothing_rather_than_everything(seeded: Target) -> None:
    # A filter the database compared as SQL text would match every row; bound, it matches none.
    for payload in ("' OR 1=1 --", "' OR '1'='1"):
        response = httpx.get(
            f"{seeded.server.url}/past-predictions", params={"model_version": payload}, timeout=60
        )
        assert response.status_code == 200
        assert response.json() == []
