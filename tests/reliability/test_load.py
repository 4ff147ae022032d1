"""The short form of ``make loadtest`` (8 clients, 5 s) with its floors asserted.

The full run (32 clients, 60 s) is ``make loadtest``; its figures are in docs/reliability.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.loadtest import loadtest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_short_load_run_has_no_5xx_and_loses_no_write(trained_home: Path, shared_pg_database: str) -> None:
    result = loadtest(
        home=trained_home, clients=8, seconds=5, max_requests=5_000, database_url=shared_pg_database
    )
    print(json.dumps(result, indent=2))  # the figures, with -s or in the failure report
    assert result["server_errors_5xx"] == 0, result
    assert result["transport_errors"] == 0, result
    assert result["rows_stored"] == result["rows_acknowledged"], result
    for kind, figures in result["by_kind"].items():
        assert figures["requests"] > 0, f"no {kind} request was sent: {result}"
        assert figures["p99_ms"] is not None
    # Every request kind also succeeded, so the floors above are not met by failing quietly.
    assert all(set(k["statuses"]) == {"200"} for k in result["by_kind"].values()), result
