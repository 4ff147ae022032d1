"""API security against real servers: API key, rate limit, body and batch limits, CORS, secrets.

Three servers of their own besides the shared ones (conftest): ``secured`` (a key, small body
and batch limits, one CORS origin, and secrets everywhere: in the PostgreSQL URL, the webhook URL,
the web app password), ``closed`` (reads need the key too, 3 writes a minute) and ``limited``
(no key, 2 writes a minute per client host).
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from outagecast.redaction import install_log_redaction, redact
from outagecast.settings import Settings
from tests.utils.server import RunningServer, start_server

TEST_DATASET_ROWS = "8000"
KEY = "k3y-0f-the-secured-api-1234567890"
DB_PASSWORD = "db-pa55word-never-shown"
WEBHOOK = "https://hooks.example.invalid/services/T000/B000/webhook-t0ken-never-shown"
WEBAPP_PASSWORD = "webapp-pa55word-never-shown"
SECRETS = (KEY, DB_PASSWORD, WEBHOOK, "webhook-t0ken-never-shown", WEBAPP_PASSWORD)
ALLOWED_ORIGIN = "https://ops.example.com"
SMALL_BODY_BYTES = 65_536
SMALL_BATCH_ROWS = 5
CLOSED_RATE = 3
LIMITED_RATE = 2

ROW = {
    "cloud_provider": "AWS",
    "service": "Compute",
    "severity": "High",
    "start_time": "2025-06-30T10:18:08Z",
    "system_load_before_outage": 75,
    "number_of_customers_affected": 1200,
    "ticket_count": 35,
    "backup_system_triggered": "Yes",
}


def _start(home: Path, name: str, env: dict[str, str]) -> RunningServer:
    return start_server(
        home=home,
        env={"DATASET_ROWS": TEST_DATASET_ROWS, "MODEL_REFRESH_SECONDS": "0", **env},
        log_path=home / f"{name}.log",
    )


@pytest.fixture(scope="module")
def secured(trained_home: Path, postgres_url: str) -> Iterator[RunningServer]:
    # Trust authentication ignores the password, so it can be any secret we then look for.
    url = make_url(postgres_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    server = _start(
        trained_home,
        "secured-api",
        {
            "DATABASE_URL": url,
            "API_KEY": KEY,
            "ALERT_WEBHOOK_URL": WEBHOOK,
            "WEBAPP_PASSWORD": WEBAPP_PASSWORD,
            "MAX_BODY_BYTES": str(SMALL_BODY_BYTES),
            "MAX_BATCH_ROWS": str(SMALL_BATCH_ROWS),
            "CORS_ALLOW_ORIGINS": json.dumps([ALLOWED_ORIGIN]),
            "LOG_LEVEL": "DEBUG",
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def closed(trained_home: Path) -> Iterator[RunningServer]:
    server = _start(
        trained_home,
        "closed-api",
        {
            "DATABASE_URL": f"sqlite:///{trained_home}/closed.db",
            "API_KEY": KEY,
            "READS_REQUIRE_API_KEY": "true",
            "RATE_LIMIT_PER_MINUTE": str(CLOSED_RATE),
        },
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def limited(trained_home: Path) -> Iterator[RunningServer]:
    server = _start(
        trained_home,
        "limited-api",
        {"DATABASE_URL": f"sqlite:///{trained_home}/limited.db", "RATE_LIMIT_PER_MINUTE": str(LIMITED_RATE)},
    )
    yield server
    server.stop()


def _operations(base_url: str) -> list[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI schema, path parameters filled with 1."""
    schema = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    operations = []
    for path, item in schema["paths"].items():
        filled = path
        for part in path.split("/"):
            if part.startswith("{") and part.endswith("}"):
                filled = filled.replace(part, "1")
        operations += [(method.upper(), filled) for method in item if method != "parameters"]
    return operations


def _predict(server: RunningServer, *, key: str | None = KEY, rows: int = 1, **kwargs) -> httpx.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.post(
        f"{server.url}/predict", json={"features": [ROW] * rows}, headers=headers, timeout=60, **kwargs
    )


# --- API key ------------------------------------------------------------------------------------


def test_writes_need_the_key_and_reads_stay_open(secured: RunningServer) -> None:
    assert _predict(secured, key=None).status_code == 401
    assert _predict(secured, key="wrong").status_code == 401
    # Same length, last character wrong: only an exact match passes.
    assert _predict(secured, key=KEY[:-1] + "X").status_code == 401
    refused = _predict(secured, key=None)
    assert refused.json()["detail"] == "Missing or wrong X-API-Key"
    assert refused.headers["www-authenticate"] == "API-Key"
    assert _predict(secured).status_code == 200
    reload_without = httpx.post(f"{secured.url}/reload-model", timeout=60)
    assert reload_without.status_code == 401
    reload_with = httpx.post(f"{secured.url}/reload-model", headers={"X-API-Key": KEY}, timeout=60)
    assert reload_with.status_code == 200
    for path in ("/health", "/past-predictions", "/models", "/ingestion-stats", "/metrics"):
        assert httpx.get(f"{secured.url}{path}", timeout=60).status_code == 200, path


def test_every_write_operation_in_the_schema_needs_the_key(secured: RunningServer) -> None:
    # Enumerated from OpenAPI, so a write endpoint added later is covered without editing this test.
    writes = [(m, p) for m, p in _operations(secured.url) if m not in ("GET", "HEAD", "OPTIONS")]
    assert ("POST", "/predict") in writes and ("POST", "/reload-model") in writes
    for method, path in writes:
        response = httpx.request(method, f"{secured.url}{path}", json={}, timeout=60)
        assert response.status_code == 401, (method, path, response.text)


def test_reads_need_the_key_when_configured(closed: RunningServer) -> None:
    reads = [p for m, p in _operations(closed.url) if m == "GET"]
    assert "/past-predictions" in reads
    for path in reads:
        expected = 200 if path == "/health" else 401  # liveness probes carry no secrets
        without = httpx.get(f"{closed.url}{path}", timeout=60)
        assert without.status_code == expected, (path, without.text)
        with_key = httpx.get(f"{closed.url}{path}", headers={"X-API-Key": KEY}, timeout=60)
        assert with_key.status_code != 401, (path, with_key.text)
    # Neither part of the schema nor a route, yet reads all the same.
    for path in ("/metrics", "/data-docs/"):
        assert httpx.get(f"{closed.url}{path}", timeout=60).status_code == 401, path
        assert httpx.get(f"{closed.url}{path}", headers={"X-API-Key": KEY}, timeout=60).status_code != 401


def test_without_a_key_configured_writes_are_open(client: httpx.Client) -> None:
    assert client.post("/predict", json={"features": [ROW]}).status_code == 200


# --- Rate limit ---------------------------------------------------------------------------------


def test_writes_beyond_the_rate_limit_get_429_with_retry_after(closed: RunningServer) -> None:
    # Refused for the key: they must not use up the budget (the key is checked first).
    assert _predict(closed, key="wrong").status_code == 401
    for _ in range(CLOSED_RATE):
        assert _predict(closed).status_code == 200
    refused = _predict(closed)
    assert refused.status_code == 429
    assert "RATE_LIMIT_PER_MINUTE" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Reads are not limited.
    for _ in range(CLOSED_RATE + 2):
        response = httpx.get(f"{closed.url}/past-predictions", headers={"X-API-Key": KEY}, timeout=60)
        assert response.status_code == 200


def test_the_rate_limit_is_per_client_host(limited: RunningServer) -> None:
    for _ in range(LIMITED_RATE):
        assert _predict(limited, key=None).status_code == 200
    assert _predict(limited, key=None).status_code == 429
    # Another loopback address is another client, with a budget of its own.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=60) as other:
        response = other.post(f"{limited.url}/predict", json={"features": [ROW]})
        assert response.status_code == 200, response.text


# --- Body and batch limits ----------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_with_413(secured: RunningServer) -> None:
    body = b" " * (SMALL_BODY_BYTES + 1)
    response = httpx.post(
        f"{secured.url}/predict",
        content=body,
        headers={"X-API-Key": KEY, "content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json()["detail"]


def test_a_streamed_oversized_body_is_refused_with_413(secured: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(4):
            yield b" " * (SMALL_BODY_BYTES // 2)

    response = httpx.post(
        f"{secured.url}/predict",
        content=chunks(),
        headers={"X-API-Key": KEY, "content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json()["detail"]
    # A streamed body within the limit is read as usual.
    small = json.dumps({"features": [ROW]}).encode()
    ok = httpx.post(
        f"{secured.url}/predict",
        content=iter([small[:10], small[10:]]),
        headers={"X-API-Key": KEY, "content-type": "application/json"},
        timeout=60,
    )
    assert ok.status_code == 200, ok.text


def test_more_rows_than_max_batch_rows_is_a_413_naming_the_setting(secured: RunningServer) -> None:
    assert _predict(secured, rows=SMALL_BATCH_ROWS).status_code == 200
    response = _predict(secured, rows=SMALL_BATCH_ROWS + 1)
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "MAX_BATCH_ROWS" in detail and str(SMALL_BATCH_ROWS) in detail


def test_the_default_body_limit_accepts_a_full_10000_row_batch(client: httpx.Client) -> None:
    body = {"features": [ROW] * 10_000, "source": "scheduled"}
    assert len(json.dumps(body)) < Settings().max_body_bytes
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.text[:500]
    assert len(response.json()["predictions"]) == 10_000


# --- CORS ---------------------------------------------------------------------------------------


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{url}/predict",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
        timeout=30,
    )


def test_cors_is_closed_by_default(client: httpx.Client) -> None:
    preflight = _preflight(str(client.base_url).rstrip("/"), ALLOWED_ORIGIN)
    assert "access-control-allow-origin" not in preflight.headers
    response = client.get("/past-predictions", headers={"Origin": ALLOWED_ORIGIN})
    assert "access-control-allow-origin" not in response.headers


def test_cors_admits_only_the_configured_origins(secured: RunningServer) -> None:
    allowed = _preflight(secured.url, ALLOWED_ORIGIN)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    other = _preflight(secured.url, "https://evil.example.net")
    assert "access-control-allow-origin" not in other.headers
    read = httpx.get(f"{secured.url}/past-predictions", headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in read.headers


# --- Secrets ------------------------------------------------------------------------------------


def test_secrets_appear_in_no_answer_and_no_log(secured: RunningServer) -> None:
    # Exercise the paths that log: refusals, a predict, a reload, a 404, a validation error.
    _predict(secured, key=None)
    _predict(secured, key=KEY[:-1] + "X")
    _predict(secured)
    httpx.post(f"{secured.url}/reload-model", headers={"X-API-Key": KEY}, timeout=60)
    httpx.get(f"{secured.url}/nowhere", timeout=30)
    answers = [
        httpx.get(f"{secured.url}{path}", timeout=60).text
        for path in ("/health", "/openapi.json", "/models", "/past-predictions", "/metrics", "/docs")
    ]
    answers.append(_predict(secured, key="wrong").text)
    log = secured.log()
    assert "Application startup complete" in log  # the log is the server's, and not empty
    for secret in SECRETS:
        assert secret not in log, f"{secret!r} is in the server log"
        for answer in answers:
            assert secret not in answer


def test_settings_repr_masks_every_secret() -> None:
    settings = Settings(
        api_key=KEY,
        webapp_password=WEBAPP_PASSWORD,
        database_url=f"postgresql://outagecast:{DB_PASSWORD}@db:5432/outagecast",
        alert_webhook_url=WEBHOOK,
        mlflow_tracking_uri=f"http://user:{DB_PASSWORD}@mlflow:5000",
    )
    for text in (repr(settings), str(settings)):
        for secret in SECRETS:
            assert secret not in text
    assert "db:5432" in repr(settings)  # only the secret parts are masked


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction(Settings(api_key=KEY, alert_webhook_url=WEBHOOK))
    with caplog.at_level(logging.INFO, logger="outagecast.test"):
        logging.getLogger("outagecast.test").info("posting to %s with key %s", WEBHOOK, KEY)
    assert KEY not in caplog.text and WEBHOOK not in caplog.text
    assert "posting to *** with key ***" in caplog.text
    assert redact(f"x{KEY}y") == "x***y"
    # httpx logs every request's URL at INFO: for alerts that is the webhook.
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


# --- No SQL from strings ------------------------------------------------------------------------

SOURCE = Path(__file__).resolve().parents[2] / "src" / "outagecast"
SQL_CALLS = {"text", "execute", "exec_driver_sql", "copy", "executescript"}
# Reviewed: neither takes any input. (file, start of the statement)
ALLOWED_FORMATTED_SQL = {
    ("db/session.py", "PRAGMA busy_timeout"),  # a module constant, formatted as an integer
    ("db/repository.py", "COPY predictions"),  # column names checked against the ORM and quoted
}


def _formatted(node: ast.expr) -> bool:
    """Whether an expression builds a string at run time (f-string, %, +, str.format)."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def test_no_sql_is_assembled_from_strings() -> None:
    """Every SQL statement in the package is constant or parameterised (bound values)."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in SQL_CALLS or not _formatted(node.args[0]):
                continue
            rel = path.relative_to(SOURCE).as_posix()
            statement = ast.unparse(node.args[0])
            if not any(rel == f and start in statement for f, start in ALLOWED_FORMATTED_SQL):
                found.append(f"{rel}:{node.lineno}: {statement}")
    assert not found, "SQL built from strings:\n" + "\n".join(found)
