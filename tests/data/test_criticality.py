"""Ingestion criticality thresholds (DESIGN.md §4), table-driven."""

from __future__ import annotations

import pytest

from outagecast.validation import Criticality, criticality


@pytest.mark.parametrize(
    ("total", "invalid", "schema_error", "expected"),
    [
        (100, 0, False, Criticality.NONE),
        (0, 0, False, Criticality.NONE),
        (100, 1, False, Criticality.LOW),
        (100, 9, False, Criticality.LOW),
        (1000, 99, False, Criticality.LOW),
        (100, 10, False, Criticality.MEDIUM),  # "from 10 %": 10 % itself is medium
        (3, 1, False, Criticality.MEDIUM),
        (100, 50, False, Criticality.MEDIUM),  # "more than 50 %": 50 % itself is not high
        (100, 51, False, Criticality.HIGH),
        (1, 1, False, Criticality.HIGH),
        (100, 100, False, Criticality.HIGH),
        (100, 0, True, Criticality.HIGH),  # a schema error is high whatever the rows say
        (0, 0, True, Criticality.HIGH),
    ],
)
def test_criticality_thresholds(total: int, invalid: int, schema_error: bool, expected: Criticality) -> None:
    assert criticality(total, invalid, schema_error) == expected


def test_criticality_values_are_the_stored_strings() -> None:
    assert [c.value for c in Criticality] == ["none", "low", "medium", "high"]
    assert criticality(10, 0, False) == "none"
