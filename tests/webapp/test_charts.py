"""Chart details that a screenshot would show wrong."""

from __future__ import annotations

import pandas as pd

from outagecast.webapp import charts


def _buckets(*stamps: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bucket": [pd.Timestamp(s) for s in stamps],
            "valid_rows": [2263] * len(stamps),
            "invalid_rows": [882] * len(stamps),
            "total_rows": [3145] * len(stamps),
            "files": [1] * len(stamps),
        }
    )


def test_a_single_bucket_gets_an_hour_either_side() -> None:
    """Plotly would zoom one instant to milliseconds ("19:59:59.9996"); the axis shows hours instead."""
    fig = charts.ingestion_buckets_chart(_buckets("2026-12-04 20:00"), "UTC")
    low, high = fig.layout.xaxis.range
    assert (pd.Timestamp(low), pd.Timestamp(high)) == (
        pd.Timestamp("2026-12-04 19:00"),
        pd.Timestamp("2026-12-04 21:00"),
    )


def test_several_buckets_keep_plotly_autorange() -> None:
    fig = charts.ingestion_buckets_chart(_buckets("2026-12-04 20:00", "2026-12-04 22:00"), "UTC")
    assert fig.layout.xaxis.range is None
