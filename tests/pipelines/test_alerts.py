"""Alerts against a real HTTP receiver on loopback: formats, retries, throttling, failures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from outagecast.alerts import build_payload, flush_suppressed, send_alert
from outagecast.datasets.corrupt import corrupt_file
from outagecast.db.migrate import upgrade_to_head
from outagecast.pipelines.ingest import ingest_once
from tests.utils.ingestion import drop, query, settings_for, webhook_receiver
from tests.utils.server import free_port

FACTS = {"File": "batch_007.csv", "Rows": 120, "Invalid rows": 60, "Errors": "missing_value: 40, outlier: 20"}
LINK = "http://oc.example/data-docs/validations/x.html"


@pytest.mark.parametrize("fmt", ["teams", "slack", "json"])
def test_each_format_reaches_the_receiver(tmp_path: Path, sqlite_url: str, fmt: str) -> None:
    upgrade_to_head(sqlite_url)
    with webhook_receiver() as receiver:
        settings = settings_for(tmp_path, sqlite_url, alert_webhook_url=receiver.url, alert_format=fmt)

        result = send_alert(settings, "ingestion", "Bad batch", FACTS, "60 of 120 rows failed.", LINK)

        assert (result.status, result.attempts) == ("sent", 1)
        (request,) = receiver.requests
    body = request["json"]
    assert request["headers"]["Content-Type"] == "application/json"
    if fmt == "teams":
        assert body["@type"] == "MessageCard" and body["@context"] == "https://schema.org/extensions"
        assert body["title"] == "Bad batch" and body["text"] == "60 of 120 rows failed."
        assert {"name": "File", "value": "batch_007.csv"} in body["sections"][0]["facts"]
        assert body["potentialAction"][0]["targets"][0]["uri"] == LINK
    elif fmt == "slack":
        assert body["text"].startswith("*Bad batch*") and "File: batch_007.csv" in body["text"]
        assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "Bad batch"}}
        fields = [f["text"] for b in body["blocks"] if "fields" in b for f in b["fields"]]
        assert "*Rows*\n120" in fields
        assert body["blocks"][-1]["elements"][0]["url"] == LINK
    else:
        assert body["kind"] == "ingestion" and body["facts"]["Invalid rows"] == "60" and body["link"] == LINK
    (logged,) = query(sqlite_url, "SELECT status, attempts FROM alert_log")
    assert logged == {"status": "sent", "attempts": 1}


def test_slack_splits_many_facts_into_sections_of_ten() -> None:
    facts = {f"fact {i}": i for i in range(23)}
    body = build_payload("slack", kind="k", title="t", text="", facts=facts, link=None)
    assert [len(b["fields"]) for b in body["blocks"] if "fields" in b] == [10, 10, 3]


def test_server_errors_are_retried_until_success(tmp_path: Path, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    with webhook_receiver() as receiver:
        receiver.statuses = [500, 503]
        settings = settings_for(tmp_path, sqlite_url, alert_webhook_url=receiver.url, alert_max_attempts=3)

        result = send_alert(settings, "ingestion", "Bad batch", FACTS)

        assert (result.status, result.attempts, result.detail) == ("sent", 3, "HTTP 200")
        assert len(receiver.requests) == 3


def test_a_client_error_is_not_retried_and_never_raises(tmp_path: Path, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    with webhook_receiver() as receiver:
        receiver.statuses = [400]
        settings = settings_for(tmp_path, sqlite_url, alert_webhook_url=receiver.url)

        result = send_alert(settings, "ingestion", "Bad batch", FACTS)

    assert (result.status, result.attempts) == ("failed", 1)
    assert result.detail.startswith("HTTP 400")
    assert query(sqlite_url, "SELECT status FROM alert_log") == [{"status": "failed"}]


def test_an_unreachable_url_fails_quickly_without_raising(tmp_path: Path, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    settings = settings_for(
        tmp_path, sqlite_url, alert_webhook_url=f"http://127.0.0.1:{free_port()}/hook", alert_max_attempts=3
    )
    started = time.monotonic()
    result = send_alert(settings, "ingestion", "Bad batch", FACTS)
    assert (result.status, result.attempts) == ("failed", 3)
    assert "ConnectError" in result.detail
    assert time.monotonic() - started < 5


def test_a_slow_receiver_times_out_within_the_bound(tmp_path: Path, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    with webhook_receiver() as receiver:
        receiver.delay_seconds = 1.0
        settings = settings_for(
            tmp_path,
            sqlite_url,
            alert_webhook_url=receiver.url,
            alert_timeout_seconds=0.2,
            alert_max_attempts=2,
        )
        started = time.monotonic()
        result = send_alert(settings, "ingestion", "Bad batch", FACTS)
        assert (result.status, result.attempts) == ("failed", 2)
        assert "Timeout" in result.detail and time.monotonic() - started < 2


def test_without_a_url_alerts_are_logged(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade_to_head(sqlite_url)
    result = send_alert(settings_for(tmp_path, sqlite_url), "ingestion", "Bad batch", FACTS, "text", LINK)
    assert result.status == "logged"
    assert "ALERT [ingestion] Bad batch" in caplog.text and LINK in caplog.text


def test_without_a_database_alerts_still_go_out(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        settings = settings_for(
            tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none", alert_webhook_url=receiver.url
        )
        assert send_alert(settings, "ingestion", "Bad batch", FACTS).status == "sent"


def test_a_burst_of_bad_files_gives_one_alert_then_a_summary(
    tmp_path: Path, db_url: str, clean_source: Path, gx_ready: None
) -> None:
    with webhook_receiver() as receiver:
        settings = settings_for(
            tmp_path, db_url, alert_webhook_url=receiver.url, alert_format="slack", alert_throttle_seconds=600
        )
        for i in range(5):
            corrupt_file(clean_source, tmp_path / "made" / f"bad_{i}.csv", 0.3, seed=100 + i)
            drop(settings, tmp_path / "made" / f"bad_{i}.csv")

        result = ingest_once(settings)

        assert [f.alert for f in result.files] == ["sent"] + ["suppressed"] * 4
        assert len(receiver.requests) == 1
        assert "bad_0.csv" in receiver.requests[0]["json"]["text"]
        # Once the interval has passed (here: the throttle set to 0), the next run, with nothing
        # new to ingest, flushes the summary of what was held back.
        ingest_once(settings.model_copy(update={"alert_throttle_seconds": 0}))
        (_, summary) = receiver.wait_for(2)
    assert "+4 more ingestion alerts since" in summary["json"]["text"]
    statuses = [r["status"] for r in query(db_url, "SELECT status FROM alert_log ORDER BY id")]
    assert statuses == ["sent"] + ["suppressed"] * 4 + ["sent"]


def test_the_throttle_holds_across_processes(tmp_path: Path, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    with webhook_receiver() as receiver:
        settings = settings_for(
            tmp_path, sqlite_url, alert_webhook_url=receiver.url, alert_throttle_seconds=600
        )
        assert send_alert(settings, "retrain", "first", {}).status == "sent"
        code = (
            "from outagecast.alerts import send_alert; from outagecast.settings import Settings; "
            f"s = Settings(database_url={sqlite_url!r}, alert_webhook_url={receiver.url!r}, "
            "alert_throttle_seconds=600); print(send_alert(s, 'retrain', 'second', {}).status); "
            "print(send_alert(s, 'monitor', 'other kind', {}).status)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.split() == ["suppressed", "sent"]
        assert [r["json"]["title"] for r in receiver.requests] == ["first", "other kind"]


def test_flush_sends_nothing_while_the_window_is_open(tmp_path: Path, sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    with webhook_receiver() as receiver:
        settings = settings_for(tmp_path, sqlite_url, alert_webhook_url=receiver.url, alert_format="json")
        send_alert(settings, "ingestion", "one", {})
        send_alert(settings, "ingestion", "two", {})
        assert flush_suppressed(settings, "ingestion") is None
        assert len(receiver.requests) == 1
