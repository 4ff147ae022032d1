"""Synthetic cloud-outage incidents with a known duration model (and its oracle).

Every row has the 40 columns of :mod:`outagecast.schema`, in order, with categories taken
from the schema only. The outage duration is drawn from an explicit generative model of the
eight model features (see ``docs/data.md``)::

    E[hours | x] = exp(mu(x))
    hours        = E[hours | x] * exp(NOISE_SIGMA * z - NOISE_SIGMA**2 / 2),  z ~ N(0, 1)

so :func:`expected_duration_minutes` (the oracle) is the best prediction any model can make,
and model quality is judged against it.

Randomness comes in fixed blocks of ``_BLOCK_ROWS`` rows, each with its own seeded stream
(``SeedSequence(seed, spawn_key=(block, stream))``): the same seed gives the same frame
whatever ``chunk_size`` is, and the first rows of a larger frame equal a smaller frame.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from tqdm import tqdm

from outagecast import schema
from outagecast.datasets import atomic_output

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- the duration model
# Log-scale noise: duration = E[duration | x] * exp(sigma*z - sigma^2/2), mean 1. 0.38 puts the
# oracle's R^2 on hours at about 0.69 (docs/data.md has the measured figures).
NOISE_SIGMA: Final = 0.38
# Scale of the expected duration (hours), chosen for a median near 2.4 h and ~16 % above 5 h.
BASE_HOURS: Final = 1.8

PROVIDER_EFFECT: Final[dict[str, float]] = {
    "AWS": -0.05,
    "Azure": 0.0,
    "GCP": -0.08,
    "IBM": 0.15,
    "Oracle": 0.10,
    "Alibaba": 0.05,
}
SERVICE_EFFECT: Final[dict[str, float]] = {
    "Compute": 0.0,
    "Storage": 0.10,
    "Database": 0.25,
    "Networking": -0.15,
    "AI/ML": 0.15,
}
SEVERITY_EFFECT: Final[dict[str, float]] = {"Low": -0.45, "Medium": 0.0, "High": 0.35, "Critical": 0.70}
# Interaction service x load: how strongly an overloaded system (> 70 %) slows recovery.
LOAD_SENSITIVITY: Final[dict[str, float]] = {
    "Compute": 1.0,
    "Storage": 0.6,
    "Database": 1.4,
    "Networking": 0.8,
    "AI/ML": 1.2,
}
# Interaction severity x backup: a backup that kicks in shortens severe outages the most.
BACKUP_RELIEF: Final[dict[str, float]] = {"Low": 0.10, "Medium": 0.22, "High": 0.34, "Critical": 0.46}
LOAD_KNEE: Final = 70.0  # % load above which recovery slows, saturating
LOAD_SLOPE: Final = 0.003  # mild linear load effect per % around 50 %
LOAD_SATURATION: Final = 0.8  # log-effect of a fully saturated load (times LOAD_SENSITIVITY)
LOAD_SCALE: Final = 10.0  # % over the knee that reaches 63 % of the saturation
CUSTOMERS_COEF: Final = 0.10  # per unit of log(1 + customers), centred at 5
TICKETS_MAX: Final = 0.30  # saturating ticket effect: TICKETS_MAX * (1 - exp(-tickets / 20))
TICKETS_SCALE: Final = 20.0
NIGHT_BUMP: Final = 0.30  # peak log-effect at 03:00, Gaussian in circular hour distance
NIGHT_PEAK_HOUR: Final = 3.0
NIGHT_WIDTH: Final = 2.5
WEEKEND_EFFECT: Final = 0.15
MONTH_AMPLITUDE: Final = 0.06  # winter a little slower: cos(2 pi (month - 1) / 12)

# ---------------------------------------------------------------- the rest of the record
YEAR_START: Final = np.datetime64("2025-01-01T00:00:00", "us")
YEAR_END: Final = np.datetime64("2026-01-01T00:00:00", "us")
_BLOCK_ROWS: Final = 10_000

_PROVIDER_WEIGHTS: Final = {"AWS": 32, "Azure": 24, "GCP": 18, "IBM": 8, "Oracle": 9, "Alibaba": 9}
_SERVICE_WEIGHTS: Final = {"Compute": 30, "Storage": 20, "Database": 20, "Networking": 18, "AI/ML": 12}
_SEVERITY_WEIGHTS: Final = {"Low": 30, "Medium": 35, "High": 24, "Critical": 11}
_STATUS_WEIGHTS: Final = {"Resolved": 55, "Mitigated": 10, "Monitoring": 5, "Closed": 30}
_DETECTION_WEIGHTS: Final = {
    "Automated Monitoring": 55,
    "Customer Report": 20,
    "Internal Team": 15,
    "Third-Party Alert": 10,
}
_MITIGATION_WEIGHTS: Final = {
    "Rollback": 20,
    "Failover": 12,
    "Restart Services": 22,
    "Scale Up": 14,
    "Patch Deployment": 14,
    "Traffic Rerouting": 10,
    "Hardware Replacement": 8,
}
_EXTERNAL_WEIGHTS: Final = {
    "None": 70,
    "Weather": 6,
    "Power Grid": 6,
    "ISP Outage": 7,
    "DDoS": 5,
    "Vendor Issue": 6,
}
# Probability that each communication channel is used (Status Page, Twitter, Phone grow with severity).
_CHANNEL_BASE: Final = {
    "Email": 0.7,
    "Slack": 0.6,
    "Status Page": 0.2,
    "Twitter": 0.15,
    "Phone": 0.1,
    "Teams": 0.3,
}
_CHANNEL_PER_SEVERITY: Final = {"Status Page": 0.2, "Twitter": 0.1, "Phone": 0.1}
_SLA_HOURS: Final = {"Low": 8.0, "Medium": 4.0, "High": 2.0, "Critical": 1.0}
_DESCRIPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "Hardware Failure": (
        "Disk array failure in storage cluster",
        "Faulty network card on host fleet",
        "Memory errors on hypervisor hosts",
    ),
    "Software Bug": (
        "Memory leak in control plane service",
        "Race condition after release",
        "Regression in API gateway build",
    ),
    "Configuration Error": (
        "Misconfigured load balancer rule",
        "Expired TLS certificate",
        "Wrong feature flag rolled out",
    ),
    "Network Issue": (
        "BGP route flap between regions",
        "Packet loss on backbone link",
        "DNS resolution failures",
    ),
    "Capacity Exhaustion": (
        "Connection pool exhausted",
        "Storage quota reached on cluster",
        "CPU saturation during traffic spike",
    ),
    "Security Incident": (
        "Credential compromise contained",
        "Malicious traffic flood",
        "Emergency key rotation",
    ),
    "Power Outage": (
        "Utility power loss at data center",
        "UPS failure during maintenance",
        "Cooling failure after power event",
    ),
    "Third-Party Dependency": (
        "Upstream identity provider outage",
        "CDN partner degradation",
        "Payment processor API errors",
    ),
    "Human Error": (
        "Accidental deletion of production resource",
        "Wrong runbook step executed",
        "Manual change without review",
    ),
}
_NOTES: Final = (
    "Customer escalation received.",
    "Follow-up action items tracked.",
    "Monitoring improvements planned.",
    "Impact limited to a subset of tenants.",
    "Vendor engaged for root-cause analysis.",
    "Runbook updated after incident.",
)
_NOTES_PROBABILITY: Final = 0.4
_POST_MORTEM_URL: Final = "https://postmortems.outagecast.example/"

# Named columns of the per-block random matrices (uniforms U and standard normals Z).
_UNIFORMS: Final = (
    "provider", "region", "service", "subtype", "start", "severity", "status", "root_cause",
    "description", "sla", "detection", "mitigation", "failover", "status_page", "page_updates",
    "post_mortem", "recurrent", "external", "maintenance", "patch", "backup", "note", "note_text",
    *(f"channel_{c}" for c in schema.COMMUNICATION_CHANNELS),
)  # fmt: skip
_NORMALS: Final = (
    "duration", "customers", "tickets", "load", "loss_rate", "region_impact", "service_impact",
    "response", "resolution", "alerts", "engineers", "engineer_response", "feedback", "load_after",
)  # fmt: skip


# ---------------------------------------------------------------- feature parsing (shared with ml)
_YES: Final = np.array(["yes", "y", "true", "1", "1.0"])
_NO: Final = np.array(["no", "n", "false", "0", "0.0"])


def time_parts(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour (0-23), day of week (Monday = 0) and month (1-12) of start times, as float arrays.

    Accepts strings in ``schema.TIMESTAMP_FORMAT`` (or any ISO 8601 form), datetimes or a
    datetime Series. Missing or unparseable values give NaN. A time-zone designator is ignored:
    the wall-clock time as written is what counts (an outage at 03:00 local is a night outage).
    """
    stamps = _to_datetime64(values)
    bad = np.isnat(stamps)
    micros = stamps.astype(np.int64)  # NaT becomes int64 min: masked below
    hour = (micros // 3_600_000_000 % 24).astype(np.float64)
    # 1970-01-01 was a Thursday (Monday = 0 -> Thursday = 3).
    dow = ((micros // 86_400_000_000 + 3) % 7).astype(np.float64)
    month = (stamps.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.float64)
    for arr in (hour, dow, month):
        arr[bad] = np.nan
    return hour, dow, month


def _to_datetime64(values: Any) -> np.ndarray:
    """Naive datetime64[us] array (wall-clock time) of ``values``; NaT where missing/unparseable."""
    if isinstance(values, pd.Series | pd.Index) and isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.tz_localize(None) if isinstance(values, pd.Index) else values.dt.tz_localize(None)
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[us]")
    if arr.dtype.kind in "US":
        obj = arr
    else:
        obj = arr.astype(object, copy=True)
        obj[pd.isna(obj)] = "NaT"
    try:
        # Fast path: numpy parses ISO strings natively; a time zone warns, garbage raises.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return obj.astype("datetime64[us]")
    except (ValueError, TypeError, UserWarning, DeprecationWarning, OverflowError):
        pass
    # Slow path, only for unusual input: strings with a time zone, garbage, datetime objects.
    items = pd.Series(obj.astype(object), dtype=object)
    is_text = items.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    out = np.full(len(items), np.datetime64("NaT"), dtype="datetime64[us]")
    if is_text.any():
        # Keep the wall-clock time: drop a trailing "Z" or "+02:00"-style offset before parsing.
        text = items[is_text].str.strip().str.replace(r"(?:Z|[+-]\d{2}:?\d{2})$", "", regex=True)
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
        out[is_text] = parsed.to_numpy(dtype="datetime64[us]")
    if (~is_text).any():
        out[~is_text] = [_wall_clock(v) for v in items[~is_text]]
    return out


def _wall_clock(value: Any) -> np.datetime64:
    """A datetime-like object as naive datetime64[us] in its own wall-clock time (NaT if not one)."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return np.datetime64("NaT", "us")
    if pd.isna(stamp):
        return np.datetime64("NaT", "us")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.to_datetime64().astype("datetime64[us]")


def yes_no_flag(values: Any) -> np.ndarray:
    """1.0 for "Yes", 0.0 for "No" (also true/false, y/n, 1/0, any case), NaN for anything else."""
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        num = arr.astype(np.float64).reshape(-1)
        return np.where((num == 0.0) | (num == 1.0), num, np.nan)
    text = np.strings.lower(np.strings.strip(arr.astype(str).reshape(-1)))
    out = np.full(text.shape, np.nan)
    # Broadcast comparison against the few spellings: cheaper than np.isin, for 1 row or 1M.
    out[(text[:, None] == _YES).any(axis=1)] = 1.0
    out[(text[:, None] == _NO).any(axis=1)] = 0.0
    return out


def category_codes(values: Any, categories: Sequence[str]) -> np.ndarray:
    """Index of each value in ``categories`` (-1 for unknown or missing), vectorised."""
    arr = np.asarray(values, dtype=object).reshape(-1)
    return pd.Index(list(categories), dtype=object).get_indexer(arr)


def _numeric(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(np.asarray(values, dtype=object).reshape(-1)), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _lookup(effect: dict[str, float], categories: Sequence[str]) -> np.ndarray:
    """Effect table in schema order, with a trailing NaN so that code -1 (unknown) maps to NaN."""
    return np.array([effect[c] for c in categories] + [np.nan])


# ---------------------------------------------------------------- the oracle
def _log_expected_hours(
    provider: np.ndarray,
    service: np.ndarray,
    severity: np.ndarray,
    hour: np.ndarray,
    dow: np.ndarray,
    month: np.ndarray,
    load: np.ndarray,
    customers: np.ndarray,
    tickets: np.ndarray,
    backup: np.ndarray,
) -> np.ndarray:
    """mu(x) = log E[hours | x]; categorical inputs are codes in schema order (-1 = unknown)."""
    over_knee = np.maximum(load - LOAD_KNEE, 0.0)
    load_term = LOAD_SLOPE * (load - 50.0) + LOAD_SATURATION * _lookup(LOAD_SENSITIVITY, schema.SERVICES)[
        service
    ] * (1.0 - np.exp(-over_knee / LOAD_SCALE))
    hour_gap = np.abs(hour - NIGHT_PEAK_HOUR)
    hour_gap = np.minimum(hour_gap, 24.0 - hour_gap)
    return (
        np.log(BASE_HOURS)
        + _lookup(PROVIDER_EFFECT, schema.CLOUD_PROVIDERS)[provider]
        + _lookup(SERVICE_EFFECT, schema.SERVICES)[service]
        + _lookup(SEVERITY_EFFECT, schema.SEVERITIES)[severity]
        + CUSTOMERS_COEF * (np.log1p(np.maximum(customers, 0.0)) - 5.0)
        + TICKETS_MAX * (1.0 - np.exp(-np.maximum(tickets, 0.0) / TICKETS_SCALE))
        + load_term
        + NIGHT_BUMP * np.exp(-0.5 * (hour_gap / NIGHT_WIDTH) ** 2)
        + WEEKEND_EFFECT * (dow >= 5)
        + MONTH_AMPLITUDE * np.cos(2.0 * np.pi * (month - 1.0) / 12.0)
        - _lookup(BACKUP_RELIEF, schema.SEVERITIES)[severity] * backup
    )


def expected_duration_minutes(features: pd.DataFrame) -> np.ndarray:
    """The oracle: E[duration_minutes | features] under the generative model.

    ``features`` holds the eight columns of ``schema.FEATURES`` (others are ignored); start_time
    may be strings or datetimes; a missing ``system_load_before_outage`` (column or value) counts
    as ``schema.DEFAULT_SYSTEM_LOAD``. Rows with an unknown category, a missing start time or a
    non-numeric count give NaN: the oracle is only defined on the generator's domain.
    """
    n = len(features)
    hour, dow, month = (
        time_parts(features["start_time"]) if "start_time" in features else (np.full(n, np.nan),) * 3
    )
    load = (
        _numeric(features["system_load_before_outage"])
        if "system_load_before_outage" in features
        else np.full(n, np.nan)
    )
    load = np.clip(np.where(np.isnan(load), schema.DEFAULT_SYSTEM_LOAD, load), 0.0, 100.0)
    mu = _log_expected_hours(
        provider=category_codes(features["cloud_provider"], schema.CLOUD_PROVIDERS),
        service=category_codes(features["service"], schema.SERVICES),
        severity=category_codes(features["severity"], schema.SEVERITIES),
        hour=hour,
        dow=dow,
        month=month,
        load=load,
        customers=_numeric(features["number_of_customers_affected"]),
        tickets=_numeric(features["ticket_count"]),
        backup=yes_no_flag(features["backup_system_triggered"]),
    )
    return np.exp(mu) * schema.MINUTES_PER_HOUR


def oracle_hours(features: pd.DataFrame) -> np.ndarray:
    """The oracle in hours (the model's target unit): ``expected_duration_minutes / 60``."""
    return expected_duration_minutes(features) / schema.MINUTES_PER_HOUR


# ---------------------------------------------------------------- generation
def _choice(u: np.ndarray, weights: dict[str, float], categories: Sequence[str]) -> np.ndarray:
    """Weighted categorical draw by inverse CDF: codes into ``categories``."""
    w = np.array([weights[c] for c in categories], dtype=np.float64)
    cdf = np.cumsum(w) / w.sum()
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(categories) - 1)


def _nested_choice(
    u: np.ndarray, parent: np.ndarray, table: dict[str, tuple[str, ...]], parents: Sequence[str]
) -> np.ndarray:
    """Uniform pick among the children of each row's parent category (e.g. region of a provider)."""
    children = [table[p] for p in parents]
    width = max(len(c) for c in children)
    padded = np.array([list(c) + [c[0]] * (width - len(c)) for c in children], dtype=object)
    counts = np.array([len(c) for c in children])
    idx = np.minimum((u * counts[parent]).astype(np.int64), counts[parent] - 1)
    return padded[parent, idx]


def _uuid4_strings(raw: np.ndarray) -> np.ndarray:
    """RFC 4122 version-4 UUID strings from an (n, 16) uint8 array, as uuid.UUID(bytes=...) would."""
    b = raw.copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = np.empty((len(b), 32), dtype=np.uint8)
    nibbles[:, 0::2] = hexdigits[b >> 4]
    nibbles[:, 1::2] = hexdigits[b & 0x0F]
    out = np.full((len(b), 36), ord("-"), dtype=np.uint8)
    out[:, np.r_[0:8, 9:13, 14:18, 19:23, 24:36]] = nibbles
    return np.ascontiguousarray(out).view("S36").ravel().astype("U36")


def _format_timestamps(stamps: np.ndarray) -> np.ndarray:
    """datetime64[us] -> strings in schema.TIMESTAMP_FORMAT ("2025-06-30 10:18:08.524480")."""
    text = np.datetime_as_string(stamps, unit="us").astype("U26")
    text.view("U1").reshape(len(text), 26)[:, 10] = " "  # ISO "T" -> the dataset's space
    return text


def _block_draws(seed: int, block: int, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uniforms, normals and UUID bytes of one block, each from its own stream."""
    streams = [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, k))) for k in range(3)]
    u = streams[0].random((rows, len(_UNIFORMS)))
    z = streams[1].standard_normal((rows, len(_NORMALS)))
    raw = streams[2].integers(0, 256, size=(rows, 32), dtype=np.uint8)
    return u, z, raw


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _weights_by_code(table: dict[str, float], categories: Sequence[str]) -> np.ndarray:
    return np.array([table[c] for c in categories])


def _chunk(u_mat: np.ndarray, z_mat: np.ndarray, raw: np.ndarray) -> pd.DataFrame:
    """Build the 40 columns for one chunk of random draws (vectorised)."""
    n = len(u_mat)
    u = dict(zip(_UNIFORMS, u_mat.T, strict=True))
    z = dict(zip(_NORMALS, z_mat.T, strict=True))
    providers = np.array(schema.CLOUD_PROVIDERS, dtype=object)
    services = np.array(schema.SERVICES, dtype=object)
    severities = np.array(schema.SEVERITIES, dtype=object)
    yes_no = np.array(["No", "Yes"], dtype=object)

    provider = _choice(u["provider"], _PROVIDER_WEIGHTS, schema.CLOUD_PROVIDERS)
    service = _choice(u["service"], _SERVICE_WEIGHTS, schema.SERVICES)
    severity = _choice(u["severity"], _SEVERITY_WEIGHTS, schema.SEVERITIES)
    rank = severity.astype(np.float64)  # Low 0 .. Critical 3

    span = (YEAR_END - YEAR_START).astype(np.int64)
    start = YEAR_START + (u["start"] * span).astype(np.int64).astype("timedelta64[us]")
    hour, dow, month = time_parts(start)

    # Features correlated with severity, as real incidents are; the duration sees them only as features.
    customers = np.maximum(np.rint(np.exp(4.0 + 0.9 * rank + 1.2 * z["customers"])), 1).astype(np.int64)
    tickets = np.floor(np.exp(-0.5 + 0.45 * np.log1p(customers) + 0.25 * rank + 0.5 * z["tickets"])).astype(
        np.int64
    )
    load = np.round(100.0 * _expit(0.3 + 0.1 * rank + 0.8 * z["load"]), 2)
    backup = (u["backup"] < 0.15 + 0.15 * rank).astype(np.int64)

    mean_hours = np.exp(
        _log_expected_hours(provider, service, severity, hour, dow, month, load, customers, tickets, backup)
    )
    hours = mean_hours * np.exp(NOISE_SIGMA * z["duration"] - NOISE_SIGMA**2 / 2.0)
    minutes = np.maximum(np.round(hours * schema.MINUTES_PER_HOUR, 2), 1.0)
    hours = minutes / schema.MINUTES_PER_HOUR
    end = start + np.rint(minutes * 60e6).astype(np.int64).astype("timedelta64[us]")

    root_cause = _choice(
        u["root_cause"], dict.fromkeys(schema.ROOT_CAUSE_CATEGORIES, 1.0), schema.ROOT_CAUSE_CATEGORIES
    )
    descriptions = _nested_choice(u["description"], root_cause, _DESCRIPTIONS, schema.ROOT_CAUSE_CATEGORIES)
    sla_hours = _weights_by_code(_SLA_HOURS, schema.SEVERITIES)[severity]
    sla = u["sla"] < _expit((np.log(hours) - np.log(sla_hours)) / 0.25)

    loss = np.round(customers * hours * np.exp(np.log(15.0) + 0.7 * z["loss_rate"]), 2)
    log_customers = np.log1p(customers) - 5.0
    region_impact = np.round(
        10 * _expit(-1.2 + 0.55 * rank + 0.25 * log_customers + 0.5 * z["region_impact"]), 1
    )
    service_impact = np.round(
        10 * _expit(-1.0 + 0.5 * rank + 0.3 * np.log(hours) + 0.5 * z["service_impact"]), 1
    )
    response = np.round(np.exp(np.log(25.0) - 0.3 * rank + 0.5 * z["response"]), 1)
    resolution = np.round(response + minutes * np.exp(0.25 * z["resolution"]), 1)
    alerts = np.floor(np.exp(1.2 + 0.35 * rank + 0.15 * log_customers + 0.6 * z["alerts"])).astype(np.int64)
    engineers = (1 + np.floor(np.exp(0.8 + 0.4 * rank + 0.15 * np.log(hours) + 0.4 * z["engineers"]))).astype(
        np.int64
    )
    engineer_response = np.round(np.exp(np.log(15.0) - 0.35 * rank + 0.6 * z["engineer_response"]), 1)

    mitigation = _choice(u["mitigation"], _MITIGATION_WEIGHTS, schema.MITIGATION_ACTIONS)
    failover = schema.MITIGATION_ACTIONS.index("Failover")
    mitigation = np.where((backup == 1) & (u["failover"] < 0.5), failover, mitigation)

    # Channels: one bit each, then a lookup of the 2^6 joined strings (never empty: Email by default).
    bits = np.zeros(n, dtype=np.int64)
    for k, channel in enumerate(schema.COMMUNICATION_CHANNELS):
        p = _CHANNEL_BASE[channel] + _CHANNEL_PER_SEVERITY.get(channel, 0.0) * rank
        bits |= (u[f"channel_{channel}"] < p).astype(np.int64) << k
    combos = np.array(
        [
            ";".join(c for k, c in enumerate(schema.COMMUNICATION_CHANNELS) if m >> k & 1) or "Email"
            for m in range(2 ** len(schema.COMMUNICATION_CHANNELS))
        ],
        dtype=object,
    )
    page_bit = 1 << schema.COMMUNICATION_CHANNELS.index("Status Page")
    page_updated = ((bits & page_bit) > 0) | (u["status_page"] < 0.1)
    page_updates = np.where(page_updated, 1 + np.floor(hours * 0.6 * (0.5 + u["page_updates"])), 0).astype(
        np.int64
    )
    feedback = np.round(
        np.clip(4.6 - 0.35 * rank - 0.45 * np.log1p(hours) + 0.45 * z["feedback"], 1.0, 5.0), 1
    )

    ids = _uuid4_strings(raw[:, :16])
    post_mortem = u["post_mortem"] < 0.2 + 0.2 * rank
    links = np.where(post_mortem, np.char.add(_POST_MORTEM_URL, ids).astype(object), None)
    bug_like = np.isin(
        root_cause,
        [schema.ROOT_CAUSE_CATEGORIES.index(c) for c in ("Software Bug", "Configuration Error")],
    )
    recurrent = u["recurrent"] < 0.2 + 0.1 * bug_like
    previous = np.where(recurrent, _uuid4_strings(raw[:, 16:]).astype(object), None)
    patchy = np.isin(
        root_cause,
        [schema.ROOT_CAUSE_CATEGORIES.index(c) for c in ("Software Bug", "Security Incident")],
    )
    patch = u["patch"] < np.where(patchy, 0.6, 0.15)
    load_after = np.round(np.clip(load * np.exp(-0.25 + 0.2 * z["load_after"]), 0.0, 100.0), 2)
    notes = np.where(
        u["note"] < _NOTES_PROBABILITY,
        np.array(_NOTES, dtype=object)[
            np.minimum((u["note_text"] * len(_NOTES)).astype(np.int64), len(_NOTES) - 1)
        ],
        None,
    )

    columns: dict[str, Any] = {
        "incident_id": ids,
        "cloud_provider": providers[provider],
        "region": _nested_choice(u["region"], provider, schema.REGIONS_BY_PROVIDER, schema.CLOUD_PROVIDERS),
        "service": services[service],
        "service_subtype": _nested_choice(u["subtype"], service, schema.SUBTYPES_BY_SERVICE, schema.SERVICES),
        "start_time": _format_timestamps(start),
        "end_time": _format_timestamps(end),
        "duration_minutes": minutes,
        "severity": severities[severity],
        "status": np.array(schema.STATUSES, dtype=object)[
            _choice(u["status"], _STATUS_WEIGHTS, schema.STATUSES)
        ],
        "root_cause_category": np.array(schema.ROOT_CAUSE_CATEGORIES, dtype=object)[root_cause],
        "root_cause_description": descriptions,
        "number_of_customers_affected": customers,
        "estimated_revenue_loss_usd": loss,
        "sla_violation": yes_no[sla.astype(np.int64)],
        "region_impact_score": region_impact,
        "service_impact_score": service_impact,
        "ticket_count": tickets,
        "ticket_response_time_minutes": response,
        "ticket_resolution_time_minutes": resolution,
        "monitoring_alerts_triggered": alerts,
        "detection_method": np.array(schema.DETECTION_METHODS, dtype=object)[
            _choice(u["detection"], _DETECTION_WEIGHTS, schema.DETECTION_METHODS)
        ],
        "mitigation_action": np.array(schema.MITIGATION_ACTIONS, dtype=object)[mitigation],
        "number_of_engineers_involved": engineers,
        "engineer_response_time_minutes": engineer_response,
        "communication_channels_used": combos[bits],
        "public_status_page_updated": yes_no[page_updated.astype(np.int64)],
        "status_page_update_count": page_updates,
        "user_feedback_score": feedback,
        "post_mortem_completed": yes_no[post_mortem.astype(np.int64)],
        "post_mortem_link": links,
        "is_recurrent_issue": yes_no[recurrent.astype(np.int64)],
        "previous_incident_id": previous,
        "external_factors": np.array(schema.EXTERNAL_FACTORS, dtype=object)[
            _choice(u["external"], _EXTERNAL_WEIGHTS, schema.EXTERNAL_FACTORS)
        ],
        "scheduled_maintenance_conflict": yes_no[(u["maintenance"] < 0.08).astype(np.int64)],
        "patch_applied": yes_no[patch.astype(np.int64)],
        "system_load_before_outage": load,
        "system_load_after_outage": load_after,
        "backup_system_triggered": yes_no[backup],
        "notes": notes,
    }
    frame = pd.DataFrame(columns, columns=list(schema.COLUMN_NAMES))
    text_columns = [c for c in schema.COLUMN_NAMES if frame[c].dtype == object]
    frame[text_columns] = frame[text_columns].astype("str")
    return frame


def iter_incident_chunks(rows: int, seed: int, *, chunk_size: int = 200_000) -> Iterator[pd.DataFrame]:
    """Yield the incidents of :func:`generate_incidents` in chunks (bounded memory for big files).

    ``chunk_size`` is rounded to a whole number of 10,000-row random blocks; it changes only
    memory use and progress granularity, never the values.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    blocks_per_chunk = max(1, round(chunk_size / _BLOCK_ROWS))
    n_blocks = -(-rows // _BLOCK_ROWS)
    if n_blocks == 0:
        yield _chunk(np.empty((0, len(_UNIFORMS))), np.empty((0, len(_NORMALS))), np.empty((0, 32), np.uint8))
        return
    for first in range(0, n_blocks, blocks_per_chunk):
        draws = [
            _block_draws(seed, b, min(_BLOCK_ROWS, rows - b * _BLOCK_ROWS))
            for b in range(first, min(first + blocks_per_chunk, n_blocks))
        ]
        frame = _chunk(*(np.concatenate(parts) for parts in zip(*draws, strict=True)))
        frame.index = pd.RangeIndex(first * _BLOCK_ROWS, first * _BLOCK_ROWS + len(frame))
        yield frame


def generate_incidents(
    rows: int, seed: int, *, progress: bool = False, chunk_size: int = 200_000
) -> pd.DataFrame:
    """A synthetic incident table: ``rows`` rows, the 40 schema columns in order, deterministic for ``seed``.

    Args:
        rows: number of incidents.
        seed: non-negative seed; the same seed gives an identical frame (whatever ``chunk_size``).
        progress: show a tqdm progress bar on stderr.
        chunk_size: rows generated per vectorised pass (memory vs. overhead).

    Returns:
        A DataFrame with a RangeIndex; integers as int64, missing text (post_mortem_link,
        previous_incident_id, notes) as NaN.
    """
    chunks = []
    with tqdm(total=rows, unit="rows", desc="generate", disable=not progress, file=sys.stderr) as bar:
        for chunk in iter_incident_chunks(rows, seed, chunk_size=chunk_size):
            chunks.append(chunk)
            bar.update(len(chunk))
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    logger.debug("generated %d incidents (seed %d)", len(frame), seed)
    return frame


def write_dataset(path: str | Path, rows: int, seed: int, progress: bool = True) -> Path:
    """Generate ``rows`` incidents and write them as CSV to ``path``, atomically; returns the path.

    Chunks are streamed to a hidden temp file in the destination folder, renamed into place at
    the end: readers never see a partial file, and memory stays bounded for large datasets.
    """
    path = Path(path)
    with (
        atomic_output(path) as fh,
        tqdm(total=rows, unit="rows", desc=path.name, disable=not progress, file=sys.stderr) as bar,
    ):
        for i, chunk in enumerate(iter_incident_chunks(rows, seed)):
            chunk.to_csv(fh, index=False, header=i == 0)
            bar.update(len(chunk))
    logger.info("wrote %d incidents to %s (seed %d)", rows, path, seed)
    return path
