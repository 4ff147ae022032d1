"""Data quality: every ingested file, how many of its rows were usable, and why the others were not."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from outagecast import schema
from outagecast.clients.api import MAX_INGESTION_LIMIT, ApiProblem, IngestionStat
from outagecast.webapp import charts, data, ui
from outagecast.webapp.formatting import (
    TABLE_DATETIME_FORMAT,
    error_type_words,
    format_percent,
    format_timestamp,
    rule_words,
)

CRITICALITIES = ("all", "none", "low", "medium", "high")
CRITICALITY_HELP = (
    "none: every row valid · low: some bad rows · medium: 10 % or more bad · "
    "high: more than half bad, a missing column, or an unreadable file"
)
DEFAULT_DAYS = 30
BAD_ROWS_SHOWN = 100
# Columns of a bad row shown first (the model's inputs and the id); the rest follow as delivered.
FIRST_COLUMNS = (schema.ID_COLUMN, *schema.FEATURES)


def files_frame(stats: list[IngestionStat], tz: Any) -> pd.DataFrame:
    """The files as a table: local times, coloured criticality, error types in words, links."""
    frame = pd.DataFrame(
        [
            {
                "timestamp": s["timestamp"],
                "filename": s["filename"],
                "total_rows": s["total_rows"],
                "valid_rows": s["valid_rows"],
                "invalid_rows": s["invalid_rows"],
                "invalid_share": s["invalid_rows"] / s["total_rows"] if s["total_rows"] else None,
                "criticality": [s["criticality"]],
                "error_types": ", ".join(
                    f"{error_type_words(k)} {v:,}"
                    for k, v in sorted((s.get("error_types") or {}).items(), key=lambda kv: -kv[1])
                ),
                "note": f"Rejected whole: {s.get('reason')}" if s.get("state") == "quarantined" else "",
                "data_docs": data.public_url(s["data_docs_url"]) if s.get("data_docs_url") else None,
            }
            for s in stats
        ]
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601").dt.tz_convert(tz)
    return frame


FILE_COLUMNS = {
    "timestamp": st.column_config.DatetimeColumn("Ingested at", format=TABLE_DATETIME_FORMAT),
    "filename": st.column_config.TextColumn("File"),
    "total_rows": st.column_config.NumberColumn("Rows", format="localized"),
    "valid_rows": st.column_config.NumberColumn("Valid", format="localized"),
    "invalid_rows": st.column_config.NumberColumn("Invalid", format="localized"),
    "invalid_share": st.column_config.ProgressColumn(
        "Invalid share", format="percent", min_value=0.0, max_value=1.0, width=110
    ),
    "criticality": ui.pill_column("Criticality", charts.CRITICALITY_COLORS, width=95, help=CRITICALITY_HELP),
    "data_docs": st.column_config.LinkColumn(
        "Data Docs", display_text="Open report", help="The Great Expectations validation report."
    ),
    "error_types": st.column_config.TextColumn("Error types (rows)", width="large"),
    "note": st.column_config.TextColumn("Note", width="medium"),
}


def bad_file_label(stat: IngestionStat, tz: Any) -> str:
    """How a file is named in the bad-rows selector."""
    when = format_timestamp(stat["timestamp"], tz)
    if stat.get("state") == "quarantined":
        return f"{stat['filename']} · {when} · rejected whole"
    n = stat["invalid_rows"]
    return f"{stat['filename']} · {when} · {n:,} bad row{'s' if n != 1 else ''}"


def show_bad_rows(stat: IngestionStat) -> None:
    """One file's bad rows with the rules each broke, in words."""
    try:
        with st.spinner("Loading the bad rows…"):
            answer = data.bad_rows(stat["id"], limit=BAD_ROWS_SHOWN)
    except ApiProblem as exc:
        ui.show_api_problem(exc, what="load this file's bad rows", key="dq_bad_retry")
        return
    if answer.get("state") == "quarantined":
        st.error(
            f"**The whole file was rejected:** {(answer.get('reason') or 'no reason recorded').rstrip('.')}. "
            "It is in `bad_data/` as delivered; fix it and `outagecast requeue` it.",
            icon=":material/block:",
        )
        return
    rows = answer.get("rows") or []
    if not rows:
        st.info("This file has no bad rows.", icon=":material/check_circle:")
        return
    reasons = Counter(rule for r in rows for rule in r.get("errors") or [])
    shown = len(rows)
    total = answer.get("invalid_rows", shown)
    st.caption(
        f"{'All' if shown >= total else f'The first {shown:,} of'} {total:,} bad rows. Rows are numbered "
        "from 1, the first row under the header. Most frequent problems: "
        + "; ".join(f"{rule_words(rule)} ({n:,})" for rule, n in reasons.most_common(4))
        + "."
    )
    columns = answer.get("columns") or []
    ordered = [c for c in FIRST_COLUMNS if c in columns] + [c for c in columns if c not in FIRST_COLUMNS]
    frame = pd.DataFrame(
        [
            {
                "row": None if r.get("row") is None else int(r["row"]) + 1,
                "problems": "; ".join(rule_words(rule) for rule in r.get("errors") or []),
                **{c: (r.get("values") or {}).get(c) for c in ordered},
            }
            for r in rows
        ]
    )
    st.container(key="dq_bad_rows").dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "row": st.column_config.NumberColumn("Row", format="%d", pinned=True, width="small"),
            "problems": st.column_config.TextColumn("Problems", pinned=True, width="large"),
        },
    )


tz = ui.user_timezone()
ui.page_header(
    "Data quality",
    "Every CSV batch dropped into raw_data/ is validated: good rows go on to prediction, bad rows are "
    "kept aside with the rules they broke.",
)

today = max(datetime.now(tz).date(), datetime.now(UTC).date())  # as on Past predictions
with st.container(border=True, key="dq_filters"):
    dates_col, crit_col, limit_col = st.columns([2, 3, 1])
    dates = dates_col.date_input(
        "Ingested between",
        value=(today - timedelta(days=DEFAULT_DAYS), today),
        format="YYYY-MM-DD",
        key="dq_dates",
        help="Both days included (calendar days in UTC, as the API stores them).",
    )
    criticality = crit_col.segmented_control(
        "Criticality",
        CRITICALITIES,
        default="all",
        required=True,
        format_func=lambda c: "All" if c == "all" else c,
        key="dq_criticality",
        help=CRITICALITY_HELP,
    )
    limit = limit_col.number_input(
        "Max files", min_value=1, max_value=MAX_INGESTION_LIMIT, value=100, step=50, key="dq_limit"
    )

start_date: date | None = dates[0] if len(dates) > 0 else None
end_date: date | None = dates[1] if len(dates) > 1 else None
try:
    with st.spinner("Loading ingestion statistics…"):
        stats = data.ingestion_stats(
            start_date=start_date,
            end_date=end_date,
            criticality=None if criticality in (None, "all") else criticality,
            limit=int(limit),
        )
except ApiProblem as exc:
    ui.show_api_problem(exc, what="load the ingestion statistics", key="dq_retry")
    st.stop()

if not stats:
    st.info(
        "No ingested files match these filters. CSV files dropped into the data folder's `raw_data/` are "
        "ingested every minute under `outagecast up`, or at once with `outagecast ingest --once`.",
        icon=":material/search_off:",
    )
    st.stop()

frame = files_frame(stats, tz)
total_rows, invalid_rows = int(frame["total_rows"].sum()), int(frame["invalid_rows"].sum())
files_col, rows_col, invalid_col, attention_col = st.columns(4)
files_col.metric("Files", f"{len(frame):,}", border=True, help="Newest first, up to the maximum asked for.")
rows_col.metric("Rows", f"{total_rows:,}", border=True)
invalid_col.metric(
    "Invalid rows",
    f"{invalid_rows:,}",
    delta=format_percent(invalid_rows / total_rows) if total_rows else None,
    delta_color="off",
    delta_arrow="off",
    border=True,
)
attention = sum(1 for s in stats if s["criticality"] in ("medium", "high"))
attention_col.metric(
    "Files needing attention", f"{attention:,}", border=True, help="Medium or high criticality (alerted)."
)

st.caption(
    ui.timezone_note(tz) + " Click a column header to sort; Data Docs open the full validation report."
)
with st.container(key="dq_files"):
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config=FILE_COLUMNS,
        # The note only says something for files rejected whole.
        column_order=[c for c in FILE_COLUMNS if c != "note" or frame["note"].any()],
    )

time_col, crit_chart_col, types_col = st.columns([5, 3, 4], gap="medium")
with time_col:
    st.subheader("Valid and invalid rows", anchor=False)
    st.plotly_chart(charts.ingestion_rows_over_time(frame, ui.timezone_name(tz)), key="dq_rows_chart")
with crit_chart_col:
    st.subheader("Files by criticality", anchor=False)
    st.plotly_chart(charts.criticality_chart(Counter(s["criticality"] for s in stats)), key="dq_crit_chart")
with types_col:
    st.subheader("Errors by type", anchor=False)
    totals: Counter[str] = Counter()
    for s in stats:
        totals.update(s.get("error_types") or {})
    if totals:
        st.plotly_chart(charts.error_types_chart(totals), key="dq_types_chart")
    else:
        st.success("No errors in these files.", icon=":material/check_circle:")

st.subheader("Bad rows and their reasons", anchor=False)
bad_files = [s for s in stats if s["invalid_rows"] > 0 or s.get("state") == "quarantined"]
if not bad_files:
    st.success("Every row of these files passed validation.", icon=":material/check_circle:")
    st.stop()
by_id = {s["id"]: s for s in bad_files}
pick_col, link_col = st.columns([3, 1], vertical_alignment="bottom")
chosen = pick_col.selectbox(
    "File", list(by_id), format_func=lambda i: bad_file_label(by_id[i], tz), key="dq_file"
)
stat = by_id[chosen]
if stat.get("data_docs_url"):
    link_col.link_button(
        "Open its Data Docs report", data.public_url(stat["data_docs_url"]), icon=":material/open_in_new:"
    )
show_bad_rows(stat)
