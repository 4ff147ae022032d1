"""The GX suite is derived from the schema, and every expectation says which rule and error type it is."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from outagecast import schema
from outagecast.datasets import corrupt
from outagecast.validation.errors import RULE_ERROR_TYPES, ErrorType, RuleKind, error_type_of_rule, rule_name
from outagecast.validation.suite import OUTLIER_CEILINGS, build_suite, number_column


@pytest.fixture(scope="module")
def suite(gx_ready: None):  # noqa: ANN201 - a gx.ExpectationSuite; GX is not imported at module level
    return build_suite()


def _by_rule(suite) -> dict[str, object]:  # noqa: ANN001
    return {e.meta["rule"]: e for e in suite.expectations}


def test_every_expectation_names_its_rule_and_error_type(suite) -> None:  # noqa: ANN001
    rules = [e.meta["rule"] for e in suite.expectations]
    assert len(rules) == len(set(rules))
    for expectation in suite.expectations:
        meta = expectation.meta
        kind = RuleKind(meta["rule_kind"])
        assert meta["error_type"] == RULE_ERROR_TYPES[kind]
        assert meta["rule"] == rule_name(kind, meta["column"])
        assert error_type_of_rule(meta["rule"]) == RULE_ERROR_TYPES[kind]


def test_required_columns_must_exist_and_be_filled(suite) -> None:  # noqa: ANN001
    rules = _by_rule(suite)
    for column in schema.REQUIRED_COLUMNS:
        assert rules[f"column_exists:{column}"].column == column
        assert rules[f"not_null:{column}"].column == column
    optional = set(schema.COLUMN_NAMES) - set(schema.REQUIRED_COLUMNS)
    assert not any(f"not_null:{column}" in rules for column in optional)


def test_categories_and_bounds_come_from_the_schema(suite) -> None:  # noqa: ANN001
    rules = _by_rule(suite)
    for column in schema.CATEGORICAL_COLUMNS:
        assert set(rules[f"in_set:{column}"].value_set) == set(schema.categories_of(column))
    for column in schema.NUMERIC_COLUMNS:
        assert f"number_format:{column}" in rules
        low, high = schema.bounds_of(column)
        between = rules[f"between:{column}"]
        assert between.column == number_column(column)
        assert between.min_value == low
        assert between.max_value == (None if column in OUTLIER_CEILINGS else high)


def test_duration_ceiling_is_an_outlier_rule(suite) -> None:  # noqa: ANN001
    rule = _by_rule(suite)[f"plausible_max:{schema.TARGET_SOURCE_COLUMN}"]
    assert rule.max_value == schema.MAX_PLAUSIBLE_DURATION_MINUTES
    assert rule.meta["error_type"] == ErrorType.OUTLIER


def test_rule_table_covers_every_error_type_but_nothing_else() -> None:
    assert set(RULE_ERROR_TYPES) == set(RuleKind)
    assert set(RULE_ERROR_TYPES.values()) == set(ErrorType)
    assert Counter(RULE_ERROR_TYPES.values())[ErrorType.WRONG_TYPE] == 2


def test_error_types_match_the_corruptor() -> None:
    # One definition: the corruptor and the validation report the same error types.
    assert ErrorType is corrupt.ErrorType


def test_importing_validation_does_not_import_great_expectations() -> None:
    code = (
        "import sys, outagecast.validation, outagecast.validation.suite, outagecast.validation.docs; "
        "sys.exit('great_expectations' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_every_rule_names_the_schema_columns_it_reads(suite) -> None:  # noqa: ANN001
    for expectation in suite.expectations:
        reads = expectation.meta["reads"]
        assert reads and set(reads) <= set(schema.COLUMN_NAMES)
    pair = _by_rule(suite)["end_after_start"]
    assert sorted(pair.meta["reads"]) == sorted(schema.TIMESTAMP_COLUMNS)
