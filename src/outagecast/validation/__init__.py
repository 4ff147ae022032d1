"""Raw-batch validation: read a CSV as text, check it with the Great Expectations suite, report per row.

``read_incident_csv`` (reader.py) turns a file into a text frame or a reason; ``validate_frame``
(validate.py) runs the suite built from the schema (suite.py) and returns a ``ValidationReport``,
optionally writing GX Data Docs (docs.py). Importing this package does not import Great
Expectations: that happens on the first validation.
"""

from outagecast.validation.errors import ErrorType, RuleKind, error_type_of_rule
from outagecast.validation.reader import ReadProblem, ReadResult, read_incident_csv
from outagecast.validation.validate import (
    Criticality,
    ValidationEngineError,
    ValidationReport,
    criticality,
    validate_frame,
    warm_up,
)

__all__ = [
    "Criticality",
    "ErrorType",
    "ReadProblem",
    "ReadResult",
    "RuleKind",
    "ValidationEngineError",
    "ValidationReport",
    "criticality",
    "error_type_of_rule",
    "read_incident_csv",
    "validate_frame",
    "warm_up",
]
