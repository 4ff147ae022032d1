"""The data-quality error types and the one table that maps each validation rule to one of them.

Every expectation of the suite (see ``suite.py``) is a *rule*: a rule kind (what is checked)
applied to a column. The rule kind alone decides the error type a failing row is counted
under, so attribution reads ``RULE_ERROR_TYPES`` and nothing else.

``ErrorType`` is the schema's: the corruptor injects and the suite reports the same seven
error types of the original design, so a file corrupted with error type X is reported under X.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from outagecast.schema import ErrorType

__all__ = ["RULE_ERROR_TYPES", "ErrorType", "RuleKind", "error_type_of_rule"]


class RuleKind(StrEnum):
    """What one expectation of the suite checks (the first part of a rule name)."""

    COLUMN_EXISTS = "column_exists"  # a required column is in the file
    NOT_NULL = "not_null"  # a required column has a value
    NUMBER_FORMAT = "number_format"  # the text of a numeric column parses as a number
    TIMESTAMP_FORMAT = "timestamp_format"  # the text of a timestamp column parses as a timestamp
    IN_SET = "in_set"  # a categorical value is one of the schema's categories
    BETWEEN = "between"  # a number lies within the schema's hard bounds
    PLAUSIBLE_MAX = "plausible_max"  # a number stays below its plausibility ceiling
    END_AFTER_START = "end_after_start"  # an outage does not end before it starts
    UNIQUE_ID = "unique_id"  # no incident id appears twice


# The one rule -> error type table. A value that breaks its column's hard bounds (-5 tickets,
# 140 % load, an end before the start) is out of range; a value that is possible but not
# plausible (a 19-year outage) is an outlier; an id seen before marks a duplicated row.
RULE_ERROR_TYPES: Final[Mapping[RuleKind, ErrorType]] = MappingProxyType(
    {
        RuleKind.COLUMN_EXISTS: ErrorType.MISSING_COLUMN,
        RuleKind.NOT_NULL: ErrorType.MISSING_VALUE,
        RuleKind.NUMBER_FORMAT: ErrorType.WRONG_TYPE,
        RuleKind.TIMESTAMP_FORMAT: ErrorType.WRONG_TYPE,
        RuleKind.IN_SET: ErrorType.INVALID_CATEGORY,
        RuleKind.BETWEEN: ErrorType.OUT_OF_RANGE,
        RuleKind.PLAUSIBLE_MAX: ErrorType.OUTLIER,
        RuleKind.END_AFTER_START: ErrorType.OUT_OF_RANGE,
        RuleKind.UNIQUE_ID: ErrorType.DUPLICATE_ROW,
    }
)


def rule_name(kind: RuleKind, column: str | None = None) -> str:
    """The name a rule is reported under: ``kind:column`` (or just ``kind`` for row-level rules)."""
    return f"{kind}:{column}" if column else str(kind)


def error_type_of_rule(rule: str) -> ErrorType:
    """The error type a reported rule name (``kind:column`` or ``kind``) counts under."""
    return RULE_ERROR_TYPES[RuleKind(rule.partition(":")[0])]
