"""The single definition of an incident record.

Every other module (generator, validation suite, feature engineering, API schemas, web-app
widgets) reads columns, types, categories and ranges from here; none lists them again.
Pure data: no I/O, no internal imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """How a column's values are typed."""

    ID = "id"  # free text identifier (UUID)
    CATEGORY = "category"  # one of a closed set of strings
    TEXT = "text"  # free text
    TIMESTAMP = "timestamp"  # "YYYY-MM-DD HH:MM:SS.ffffff"
    INTEGER = "integer"
    FLOAT = "float"
    YES_NO = "yes_no"  # "Yes" / "No"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the incident record."""

    name: str
    kind: Kind
    description: str
    required: bool = False  # a row without it cannot be used (validation: not null)
    categories: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


# ---------------------------------------------------------------- categories
CLOUD_PROVIDERS: Final = ("AWS", "Azure", "GCP", "IBM", "Oracle", "Alibaba")
SERVICES: Final = ("Compute", "Storage", "Database", "Networking", "AI/ML")
SEVERITIES: Final = ("Low", "Medium", "High", "Critical")
YES_NO: Final = ("Yes", "No")

REGIONS_BY_PROVIDER: Final[dict[str, tuple[str, ...]]] = {
    "AWS": ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"),
    "Azure": ("eastus", "westeurope", "southeastasia", "centralus"),
    "GCP": ("us-central1", "europe-west2", "asia-southeast1", "us-east4"),
    "IBM": ("us-south", "eu-de", "jp-tok"),
    "Oracle": ("us-ashburn-1", "eu-frankfurt-1", "ap-tokyo-1"),
    "Alibaba": ("cn-hangzhou", "cn-shanghai", "ap-southeast-1"),
}
REGIONS: Final = tuple(dict.fromkeys(r for rs in REGIONS_BY_PROVIDER.values() for r in rs))

SUBTYPES_BY_SERVICE: Final[dict[str, tuple[str, ...]]] = {
    "Compute": ("VM", "Container", "Serverless", "Batch"),
    "Storage": ("Object", "Block", "File", "Archive"),
    "Database": ("Relational", "NoSQL", "Cache", "Data Warehouse"),
    "Networking": ("Load Balancer", "DNS", "CDN", "VPN"),
    "AI/ML": ("Training", "Inference", "Notebook", "Vector Search"),
}
SERVICE_SUBTYPES: Final = tuple(s for ss in SUBTYPES_BY_SERVICE.values() for s in ss)

STATUSES: Final = ("Resolved", "Mitigated", "Monitoring", "Closed")
ROOT_CAUSE_CATEGORIES: Final = (
    "Hardware Failure",
    "Software Bug",
    "Configuration Error",
    "Network Issue",
    "Capacity Exhaustion",
    "Security Incident",
    "Power Outage",
    "Third-Party Dependency",
    "Human Error",
)
DETECTION_METHODS: Final = ("Automated Monitoring", "Customer Report", "Internal Team", "Third-Party Alert")
MITIGATION_ACTIONS: Final = (
    "Rollback",
    "Failover",
    "Restart Services",
    "Scale Up",
    "Patch Deployment",
    "Traffic Rerouting",
    "Hardware Replacement",
)
COMMUNICATION_CHANNELS: Final = ("Email", "Slack", "Status Page", "Twitter", "Phone", "Teams")
EXTERNAL_FACTORS: Final = ("None", "Weather", "Power Grid", "ISP Outage", "DDoS", "Vendor Issue")


class ErrorType(StrEnum):
    """The seven data-quality error types of the original design."""

    MISSING_VALUE = "missing_value"
    OUT_OF_RANGE = "out_of_range"
    INVALID_CATEGORY = "invalid_category"
    MISSING_COLUMN = "missing_column"
    WRONG_TYPE = "wrong_type"
    DUPLICATE_ROW = "duplicate_row"
    OUTLIER = "outlier"


# (start, end): an outage never ends before it starts.
OUTAGE_INTERVAL: Final = ("start_time", "end_time")
# Only empty cells are missing: "None" is a real external_factors category.
CSV_NA_VALUES: Final = ("",)
TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S.%f"
# Durations above this are treated as data errors (the original corruptor injects 9,999,999).
MAX_PLAUSIBLE_DURATION_MINUTES: Final = 30 * 24 * 60

_C = Column
_K = Kind
COLUMNS: Final[tuple[Column, ...]] = (
    _C("incident_id", _K.ID, "Unique incident identifier (UUID).", required=True),
    _C("cloud_provider", _K.CATEGORY, "Cloud provider.", True, CLOUD_PROVIDERS),
    _C("region", _K.CATEGORY, "Provider region.", True, REGIONS),
    _C("service", _K.CATEGORY, "Service family affected.", True, SERVICES),
    _C("service_subtype", _K.CATEGORY, "Service subtype.", False, SERVICE_SUBTYPES),
    _C("start_time", _K.TIMESTAMP, "When the outage started.", required=True),
    _C("end_time", _K.TIMESTAMP, "When the outage ended.", required=True),
    _C(
        "duration_minutes",
        _K.FLOAT,
        "Outage duration in minutes (the target).",
        True,
        None,
        0,
        MAX_PLAUSIBLE_DURATION_MINUTES,
    ),
    _C("severity", _K.CATEGORY, "Severity level.", True, SEVERITIES),
    _C("status", _K.CATEGORY, "Incident status.", False, STATUSES),
    _C("root_cause_category", _K.CATEGORY, "Root cause family.", False, ROOT_CAUSE_CATEGORIES),
    _C("root_cause_description", _K.TEXT, "Root cause in words."),
    _C("number_of_customers_affected", _K.INTEGER, "Customers affected.", True, None, 0),
    _C("estimated_revenue_loss_usd", _K.FLOAT, "Estimated revenue loss (USD).", False, None, 0),
    _C("sla_violation", _K.YES_NO, "Whether the SLA was violated.", False, YES_NO),
    _C("region_impact_score", _K.FLOAT, "Regional impact score, 0-10.", False, None, 0, 10),
    _C("service_impact_score", _K.FLOAT, "Service impact score, 0-10.", False, None, 0, 10),
    _C("ticket_count", _K.INTEGER, "Support tickets opened.", True, None, 0),
    _C("ticket_response_time_minutes", _K.FLOAT, "Mean ticket response time.", False, None, 0),
    _C("ticket_resolution_time_minutes", _K.FLOAT, "Mean ticket resolution time.", False, None, 0),
    _C("monitoring_alerts_triggered", _K.INTEGER, "Monitoring alerts fired.", False, None, 0),
    _C("detection_method", _K.CATEGORY, "How the outage was detected.", False, DETECTION_METHODS),
    _C("mitigation_action", _K.CATEGORY, "Main mitigation action.", False, MITIGATION_ACTIONS),
    _C("number_of_engineers_involved", _K.INTEGER, "Engineers involved.", False, None, 0),
    _C("engineer_response_time_minutes", _K.FLOAT, "Time to first engineer response.", False, None, 0),
    _C("communication_channels_used", _K.TEXT, "Channels used, separated by ';'."),
    _C("public_status_page_updated", _K.YES_NO, "Whether the status page was updated.", False, YES_NO),
    _C("status_page_update_count", _K.INTEGER, "Status page updates.", False, None, 0),
    _C("user_feedback_score", _K.FLOAT, "User feedback score, 1-5.", False, None, 1, 5),
    _C("post_mortem_completed", _K.YES_NO, "Whether a post-mortem was written.", False, YES_NO),
    _C("post_mortem_link", _K.TEXT, "Link to the post-mortem."),
    _C("is_recurrent_issue", _K.YES_NO, "Whether this issue happened before.", False, YES_NO),
    _C("previous_incident_id", _K.TEXT, "Earlier incident of the same issue."),
    _C("external_factors", _K.CATEGORY, "External factor involved.", False, EXTERNAL_FACTORS),
    _C("scheduled_maintenance_conflict", _K.YES_NO, "Clash with planned maintenance.", False, YES_NO),
    _C("patch_applied", _K.YES_NO, "Whether a patch was applied.", False, YES_NO),
    _C("system_load_before_outage", _K.FLOAT, "System load before the outage, %.", True, None, 0, 100),
    _C("system_load_after_outage", _K.FLOAT, "System load after the outage, %.", False, None, 0, 100),
    _C("backup_system_triggered", _K.YES_NO, "Whether a backup system kicked in.", True, YES_NO),
    _C("notes", _K.TEXT, "Free notes."),
)
del _C, _K

COLUMN_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in COLUMNS)
COLUMNS_BY_NAME: Final[dict[str, Column]] = {c.name: c for c in COLUMNS}
REQUIRED_COLUMNS: Final = tuple(c.name for c in COLUMNS if c.required)
CATEGORICAL_COLUMNS: Final = tuple(c.name for c in COLUMNS if c.categories is not None)
NUMERIC_COLUMNS: Final = tuple(c.name for c in COLUMNS if c.kind in (Kind.INTEGER, Kind.FLOAT))
INTEGER_COLUMNS: Final = tuple(c.name for c in COLUMNS if c.kind is Kind.INTEGER)
TIMESTAMP_COLUMNS: Final = tuple(c.name for c in COLUMNS if c.kind is Kind.TIMESTAMP)
ID_COLUMN: Final = "incident_id"

# ---------------------------------------------------------------- the model's view
CATEGORICAL_FEATURES: Final = ("cloud_provider", "service", "severity")
NUMERIC_FEATURES: Final = ("system_load_before_outage", "number_of_customers_affected", "ticket_count")
BINARY_FEATURES: Final = ("backup_system_triggered",)  # "Yes"/"No" -> 1/0
TIME_FEATURE: Final = "start_time"  # -> hour, day of week, month
# The eight inputs of a prediction request, in the original design's order.
FEATURES: Final = (
    "cloud_provider",
    "service",
    "severity",
    "start_time",
    "system_load_before_outage",
    "number_of_customers_affected",
    "ticket_count",
    "backup_system_triggered",
)
# Inputs a prediction may omit, and what stands in for them.
OPTIONAL_FEATURES: Final = ("start_time", "system_load_before_outage")
DEFAULT_SYSTEM_LOAD: Final = 50.0  # the original design's fill-in value
TARGET_SOURCE_COLUMN: Final = "duration_minutes"
TARGET: Final = "duration_hours"  # duration_minutes / 60
MINUTES_PER_HOUR: Final = 60.0
# Only known once the outage is over: these never enter the model.
POST_OUTAGE_COLUMNS: Final = (
    "end_time",
    "duration_minutes",
    "status",
    "ticket_resolution_time_minutes",
    "post_mortem_completed",
    "post_mortem_link",
    "user_feedback_score",
    "system_load_after_outage",
    "sla_violation",
    "estimated_revenue_loss_usd",
)


def categories_of(name: str) -> tuple[str, ...]:
    """The allowed values of a categorical column."""
    cats = COLUMNS_BY_NAME[name].categories
    if cats is None:
        raise KeyError(f"{name} is not a categorical column")
    return cats


def bounds_of(name: str) -> tuple[float | None, float | None]:
    """The (minimum, maximum) allowed for a numeric column; None where open."""
    col = COLUMNS_BY_NAME[name]
    return col.minimum, col.maximum
