"""Plotly figures of predictions (pure: frames in, figures out), with hours on the axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from outagecast.webapp.formatting import error_type_words, label

# One colour per source on every chart, so "scheduled" never changes colour between views.
SOURCE_COLORS = {"webapp": "#1f77b4", "scheduled": "#ff7f0e"}
THRESHOLD_COLOR = "#d62728"
ADDS_COLOR = "#d62728"  # an input that makes the outage longer
REMOVES_COLOR = "#1f77b4"  # an input that makes it shorter
LINE_COLOR = "#1f77b4"
BAND_COLOR = "rgba(31, 119, 180, 0.18)"
CURRENT_COLOR = "#d62728"
VALID_COLOR = "#2ca02c"
# Ingestion criticality, mildest first; the Data quality table uses the same colours.
ONE_BAR_PER_FILE = 40
CRITICALITY_COLORS = {"none": "#2ca02c", "low": "#e3b505", "medium": "#ff7f0e", "high": "#d62728"}


def duration_histogram(frame: pd.DataFrame, threshold_hours: float) -> go.Figure:
    """How the predicted durations are spread, with the anomaly threshold marked."""
    bins = int(min(50, max(10, len(frame) // 5)))
    fig = px.histogram(
        frame,
        x="predicted_hours",
        nbins=bins,
        labels={"predicted_hours": "Predicted duration (hours)"},
        color_discrete_sequence=[SOURCE_COLORS["webapp"]],
    )
    fig.update_layout(yaxis_title="Outages", bargap=0.05, margin={"t": 40, "b": 10}, showlegend=False)
    fig.update_traces(hovertemplate="%{x} hours: %{y} outages<extra></extra>")
    if len(frame) <= 10:  # counts are whole numbers: no 0.2 steps on a tiny batch
        fig.update_yaxes(dtick=1)
    _threshold_line(fig, threshold_hours, vertical=True)
    return fig


def predictions_over_time(frame: pd.DataFrame, threshold_hours: float, tz_name: str) -> go.Figure:
    """Each prediction as a point: when it was made, how long it predicts, coloured by source."""
    plot = frame.copy()
    # Plotly draws aware timestamps in UTC; wall-clock times in the viewer's zone read better.
    plot["timestamp"] = plot["timestamp"].dt.tz_localize(None)
    hover = [c for c in ("severity", "cloud_provider", "service", "model_version") if c in plot.columns]
    fig = px.scatter(
        plot,
        x="timestamp",
        y="predicted_hours",
        color="source",
        color_discrete_map=SOURCE_COLORS,
        category_orders={"source": list(SOURCE_COLORS)},
        hover_data={c: True for c in hover},
        labels={
            "timestamp": f"Predicted at ({tz_name})",
            "predicted_hours": "Predicted duration (hours)",
            "source": label("source"),
            **{c: label(c) for c in hover},
        },
    )
    fig.update_traces(marker={"size": 8, "opacity": 0.8})
    fig.update_layout(margin={"t": 40, "b": 10}, legend_title_text="Source")
    _threshold_line(fig, threshold_hours, vertical=False)
    return fig


def contributions_chart(contributions: Mapping[str, float], names: Mapping[str, str]) -> go.Figure:
    """Hours each input adds to (or removes from) the average prediction, largest at the top.

    ``names`` gives each input's bar label in words ("Critical severity: +1.8 h"); inputs it
    does not name fall back to their column label.
    """
    items = sorted(contributions.items(), key=lambda kv: abs(kv[1]))
    labels = [names.get(name) or label(name) for name, _ in items]
    hours = [float(value) for _, value in items]
    fig = go.Figure(
        go.Bar(
            x=hours,
            y=labels,
            orientation="h",
            marker_color=[ADDS_COLOR if h > 0 else REMOVES_COLOR for h in hours],
            hovertemplate="%{y}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="Hours added (+) or removed (−)",
        height=70 + 34 * len(items),
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
        showlegend=False,
    )
    fig.update_xaxes(zeroline=True, zerolinecolor="#888", zerolinewidth=1.5)
    fig.update_yaxes(automargin=True)
    return fig


def what_if_chart(
    xs: Sequence[Any],
    points: Sequence[Mapping[str, Any]],
    *,
    x_title: str,
    current_x: Any | None,
    current_hours: float | None,
    coverage: float | None,
    categorical: bool = False,
    tick_text: Sequence[str] | None = None,
) -> go.Figure:
    """The predicted duration as one input varies: a line with its interval as a shaded band
    (points with interval bars for categories), and the incident as entered marked."""
    hours = [float(p["predicted_hours"]) for p in points]
    lows = [p.get("predicted_hours_low") for p in points]
    highs = [p.get("predicted_hours_high") for p in points]
    has_band = all(v is not None for v in (*lows, *highs))
    shown = list(tick_text) if tick_text is not None else [str(x) for x in xs]
    band_name = f"likely range ({coverage * 100:g} % interval)" if coverage else "likely range"
    custom = [
        [t, f"{lo:.1f}–{hi:.1f} h" if has_band else "no interval"]
        for t, lo, hi in zip(shown, lows if has_band else hours, highs if has_band else hours, strict=True)
    ]
    hover = "%{customdata[0]}: <b>%{y:.1f} h</b>, likely %{customdata[1]}<extra></extra>"
    fig = go.Figure()
    if has_band and not categorical:
        fig.add_trace(
            go.Scatter(
                x=list(xs), y=highs, mode="lines", line={"width": 0}, hoverinfo="skip", showlegend=False
            )
        )
        fig.add_trace(
            go.Scatter(
                x=list(xs),
                y=lows,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=BAND_COLOR,
                hoverinfo="skip",
                name=band_name,
            )
        )
    error_y = None
    if has_band and categorical:
        error_y = {
            "type": "data",
            "symmetric": False,
            "array": [hi - h for hi, h in zip(highs, hours, strict=True)],
            "arrayminus": [h - lo for h, lo in zip(hours, lows, strict=True)],
            "color": LINE_COLOR,
            "thickness": 1.5,
            "width": 8,
        }
    fig.add_trace(
        go.Scatter(
            x=list(xs),
            y=hours,
            mode="lines+markers" if not categorical else "markers",
            line={"color": LINE_COLOR, "width": 2.5},
            marker={"size": 6 if not categorical else 11, "color": LINE_COLOR},
            error_y=error_y,
            customdata=custom,
            hovertemplate=hover,
            name="predicted duration",
        )
    )
    if current_x is not None and current_hours is not None:
        fig.add_trace(
            go.Scatter(
                x=[current_x],
                y=[current_hours],
                mode="markers",
                marker={
                    "size": 15,
                    "color": CURRENT_COLOR,
                    "symbol": "diamond",
                    "line": {"width": 1.5, "color": "white"},
                },
                name="your incident",
                hovertemplate=f"your incident: <b>{current_hours:.1f} h</b><extra></extra>",
            )
        )
    fig.update_layout(
        xaxis_title=x_title,
        yaxis_title="Predicted duration (hours)",
        height=380,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hovermode="closest",
    )
    if categorical:
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(xs))
    elif tick_text is not None:
        step = max(1, len(xs) // 12)
        fig.update_xaxes(tickvals=list(xs)[::step], ticktext=shown[::step])
    fig.update_yaxes(rangemode="tozero")
    return fig


def importances_chart(importances: Mapping[str, float]) -> go.Figure:
    """How much each input moves the champion's predictions on average (hours), largest on top."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[float(v) for _, v in items],
            y=[label(k) for k, _ in items],
            orientation="h",
            marker_color=LINE_COLOR,
            text=[f"{float(v):.2f} h" for _, v in items],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.2f} hours on average<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="Average effect on a prediction (hours, either direction)",
        height=70 + 34 * len(items),
        margin={"t": 10, "b": 10, "l": 10, "r": 40},
    )
    fig.update_yaxes(automargin=True)
    return fig


def ingestion_rows_over_time(frame: pd.DataFrame, tz_name: str) -> go.Figure:
    """Valid and invalid rows of each ingested file, stacked, oldest on the left.

    Up to ``ONE_BAR_PER_FILE`` files get one evenly spaced bar each, labelled with the time and
    file name (ingestion runs come in bursts, so a time axis would squash them); more files are
    drawn on a time axis.
    """
    plot = frame.sort_values("timestamp").reset_index(drop=True)
    local = plot["timestamp"].dt.tz_localize(None)  # wall-clock time in the viewer's zone
    per_file = len(plot) <= ONE_BAR_PER_FILE
    xs: list[Any] = list(range(len(plot))) if per_file else list(local)
    fig = go.Figure()
    for column, name, color in (
        ("valid_rows", "valid rows", VALID_COLOR),
        ("invalid_rows", "invalid rows", CRITICALITY_COLORS["high"]),
    ):
        fig.add_trace(
            go.Bar(
                x=xs,
                y=plot[column],
                name=name,
                marker_color=color,
                customdata=list(zip(plot["filename"], local.dt.strftime("%d %b %H:%M:%S"), strict=True)),
                hovertemplate=f"%{{customdata[0]}} (%{{customdata[1]}}): %{{y:,}} {name}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        xaxis_title=f"Ingested at ({tz_name})" + (", one bar per file" if per_file else ""),
        yaxis_title="Rows",
        height=360,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        bargap=0.3,
    )
    if per_file:
        names = [n if len(n) <= 18 else n[:16] + "…" for n in plot["filename"]]
        ticks = [f"{t:%d %b %H:%M}<br>{n}" for t, n in zip(local, names, strict=True)]
        step = max(1, len(xs) // 10)
        fig.update_xaxes(tickvals=xs[::step], ticktext=ticks[::step], range=[-0.5, max(len(xs), 4) - 0.5])
    return fig


def criticality_chart(counts: Mapping[str, int]) -> go.Figure:
    """How many files had each criticality, in the order none, low, medium, high."""
    levels = list(CRITICALITY_COLORS)
    fig = go.Figure(
        go.Bar(
            x=levels,
            y=[int(counts.get(level, 0)) for level in levels],
            marker_color=[CRITICALITY_COLORS[level] for level in levels],
            text=[int(counts.get(level, 0)) for level in levels],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y} files<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="Criticality",
        yaxis_title="Files",
        height=340,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        showlegend=False,
    )
    fig.update_yaxes(dtick=1 if max(counts.values(), default=0) <= 10 else None, rangemode="tozero")
    return fig


def error_types_chart(totals: Mapping[str, int]) -> go.Figure:
    """Bad rows per error type over the files shown, largest on top."""
    items = sorted(totals.items(), key=lambda kv: kv[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in items],
            y=[error_type_words(k) for k, _ in items],
            orientation="h",
            marker_color=CRITICALITY_COLORS["medium"],
            text=[f"{v:,}" for _, v in items],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:,} rows<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="Rows",
        height=max(200, 70 + 34 * len(items)),
        margin={"t": 10, "b": 10, "l": 10, "r": 40},
    )
    fig.update_yaxes(automargin=True)
    return fig


def _threshold_line(fig: go.Figure, threshold_hours: float, *, vertical: bool) -> None:
    text = f"anomaly threshold ({threshold_hours:g} h)"
    style = {"line_dash": "dash", "line_color": THRESHOLD_COLOR, "annotation_text": text}
    if vertical:
        # Left of the line: when the line is the right-most thing drawn, text on its right is cut.
        fig.add_vline(x=threshold_hours, annotation_position="top left", **style)
    else:
        fig.add_hline(y=threshold_hours, annotation_position="top left", **style)


# ---------------------------------------------------------------- monitoring page
# Drift verdicts, and realised-error series per model version, share these colours.
DRIFT_COLORS = {"drifted": "#d62728", "ok": "#2ca02c", "not judged": "#7f7f7f"}
TRAINING_COLOR = "#7f7f7f"
RECENT_COLOR = "#1f77b4"


def _time_layout(fig: go.Figure, *, x_title: str, y_title: str, height: int = 340) -> go.Figure:
    fig.update_layout(
        xaxis_title=x_title,
        yaxis_title=y_title,
        height=height,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hovermode="x unified",
    )
    _pad_single_instant(fig)
    return fig


def _pad_single_instant(fig: go.Figure) -> None:
    """Show an hour either side when every point sits at one instant.

    Plotly zooms a date axis with a single x value down to milliseconds, so the first bucket of a
    fresh installation would be labelled "19:59:59.9996, 20:00:00.0002, ...".
    """
    try:
        instants = {pd.Timestamp(x) for trace in fig.data if trace.x is not None for x in trace.x}
    except (TypeError, ValueError):  # not a time axis
        return
    instants.discard(pd.NaT)
    if len(instants) == 1:
        (instant,) = instants
        fig.update_xaxes(range=[instant - pd.Timedelta(hours=1), instant + pd.Timedelta(hours=1)])


def ingestion_buckets_chart(frame: pd.DataFrame, tz_name: str) -> go.Figure:
    """Valid and invalid rows per time bucket (stacked), with the invalid share on a second axis.

    ``frame``: one row per bucket with ``bucket`` (local time), ``valid_rows``, ``invalid_rows``,
    ``files``.
    """
    fig = go.Figure()
    for column, name, color in (
        ("valid_rows", "valid rows", VALID_COLOR),
        ("invalid_rows", "invalid rows", CRITICALITY_COLORS["high"]),
    ):
        fig.add_trace(
            go.Bar(
                x=frame["bucket"],
                y=frame[column],
                name=name,
                marker_color=color,
                hovertemplate=f"%{{y:,}} {name}<extra></extra>",
            )
        )
    share = frame["invalid_rows"] / frame["total_rows"].where(frame["total_rows"] > 0)
    fig.add_trace(
        go.Scatter(
            x=frame["bucket"],
            y=share,
            name="invalid share",
            yaxis="y2",
            mode="lines+markers",
            line={"color": "#444", "dash": "dot"},
            hovertemplate="%{y:.1%} invalid<extra></extra>",
        )
    )
    fig.update_layout(
        barmode="stack",
        yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1], "showgrid": False},
    )
    return _time_layout(fig, x_title=f"Ingested at ({tz_name})", y_title="Rows")


def criticality_over_time_chart(frame: pd.DataFrame, tz_name: str) -> go.Figure:
    """Files per criticality per time bucket, stacked (``frame``: bucket + one column per level)."""
    fig = go.Figure()
    for level, color in CRITICALITY_COLORS.items():
        fig.add_trace(
            go.Bar(
                x=frame["bucket"],
                y=frame[level],
                name=level,
                marker_color=color,
                hovertemplate=f"%{{y}} {level}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    return _time_layout(fig, x_title=f"Ingested at ({tz_name})", y_title="Files")


def error_types_over_time_chart(frame: pd.DataFrame, tz_name: str) -> go.Figure:
    """Bad rows per error type per time bucket (``frame``: bucket, error_type, rows)."""
    plot = frame.assign(error=frame["error_type"].map(error_type_words))
    fig = px.bar(plot, x="bucket", y="rows", color="error", labels={"error": "Error type"})
    fig.update_traces(hovertemplate="%{y:,} rows<extra>%{fullData.name}</extra>")
    fig.update_layout(barmode="stack")
    return _time_layout(fig, x_title=f"Ingested at ({tz_name})", y_title="Rows")


def drift_history_chart(frame: pd.DataFrame, tz_name: str, *, metric: str = "psi") -> go.Figure:
    """A drift statistic (PSI by default) per feature over monitor runs; drifted runs marked.

    ``frame``: run timestamp (local), feature (readable), the metric, drifted.
    """
    fig = go.Figure()
    for feature, part in frame.groupby("feature", sort=True):
        part = part.sort_values("timestamp")
        fig.add_trace(
            go.Scatter(
                x=part["timestamp"],
                y=part[metric],
                name=str(feature),
                mode="lines+markers",
                marker={
                    "size": [12 if d else 6 for d in part["drifted"]],
                    "symbol": ["x" if d else "circle" for d in part["drifted"]],
                },
                hovertemplate=f"{feature}: %{{y:.3g}}<extra></extra>",
            )
        )
    title = {"psi": "PSI", "p_value": "p-value", "statistic": "Test statistic"}.get(metric, metric)
    fig = _time_layout(fig, x_title=f"Monitor run ({tz_name}); × drifted", y_title=title, height=380)
    if metric == "p_value":
        fig.update_yaxes(type="log")
    return fig


def distribution_overlay_chart(bins: Sequence[Mapping[str, Any]], feature_label: str) -> go.Figure:
    """Training vs recent share of each bin, side by side (bins as the API returns them)."""
    labels = [str(b["label"]) for b in bins]
    fig = go.Figure()
    for key, name, color in (
        ("training_share", "training", TRAINING_COLOR),
        ("recent_share", "recent", RECENT_COLOR),
    ):
        counts = [b[key.replace("share", "count")] for b in bins]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[b[key] or 0 for b in bins],
                name=name,
                marker_color=color,
                customdata=counts,
                hovertemplate=f"{name}: %{{y:.1%}} (%{{customdata:,}} rows)<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        xaxis_title=feature_label,
        yaxis_title="Share of rows",
        yaxis_tickformat=".0%",
        height=360,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        bargap=0.2,
    )
    fig.update_xaxes(type="category")
    return fig


def prediction_quantiles_chart(frame: pd.DataFrame, tz_name: str, threshold_hours: float) -> go.Figure:
    """Mean and median predicted hours per bucket, with the 10-90 % band (``frame``: bucket,
    mean, p10, p50, p90)."""
    x = frame["bucket"]
    band: dict[str, Any] = {"mode": "lines", "line": {"width": 0}}  # the band's edges draw no line
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=frame["p90"],
                name="90th percentile",
                showlegend=False,
                hovertemplate="p90 %{y:.2f} h<extra></extra>",
                **band,
            ),
            go.Scatter(
                x=x,
                y=frame["p10"],
                name="10–90 % of predictions",
                fill="tonexty",
                fillcolor=BAND_COLOR,
                hovertemplate="p10 %{y:.2f} h<extra></extra>",
                **band,
            ),
            go.Scatter(
                x=x,
                y=frame["p50"],
                mode="lines+markers",
                name="median",
                line={"color": LINE_COLOR},
                hovertemplate="median %{y:.2f} h<extra></extra>",
            ),
            go.Scatter(
                x=x,
                y=frame["mean"],
                mode="lines",
                name="mean",
                line={"color": LINE_COLOR, "dash": "dash"},
                hovertemplate="mean %{y:.2f} h<extra></extra>",
            ),
        ]
    )
    _threshold_line(fig, threshold_hours, vertical=False)
    return _time_layout(fig, x_title=f"Predicted at ({tz_name})", y_title="Predicted hours")


def predictions_by_source_chart(frame: pd.DataFrame, tz_name: str) -> go.Figure:
    """Predictions per bucket and source, stacked (``frame``: bucket, source, count)."""
    fig = go.Figure()
    for source, part in frame.groupby("source", sort=True):
        fig.add_trace(
            go.Bar(
                x=part["bucket"],
                y=part["count"],
                name=str(source),
                marker_color=SOURCE_COLORS.get(str(source)),
                hovertemplate=f"%{{y:,}} {source}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    return _time_layout(fig, x_title=f"Predicted at ({tz_name})", y_title="Predictions")


def binned_histogram_chart(
    edges: Sequence[float], counts: Sequence[int], threshold_hours: float
) -> go.Figure:
    """A histogram the API already binned (edges in hours, one more than counts)."""
    mids = [(lo + hi) / 2 for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    widths = [hi - lo for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    ranges = [f"{lo:.2f}–{hi:.2f} h" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    fig = go.Figure(
        go.Bar(
            x=mids,
            y=list(counts),
            width=widths,
            marker_color=LINE_COLOR,
            customdata=ranges,
            hovertemplate="%{customdata}: %{y:,} predictions<extra></extra>",
        )
    )
    _threshold_line(fig, threshold_hours, vertical=True)
    fig.update_layout(
        xaxis_title="Predicted hours",
        yaxis_title="Predictions",
        height=340,
        margin={"t": 30, "b": 10, "l": 10, "r": 10},
        bargap=0.05,
    )
    return fig


def realised_error_chart(
    frame: pd.DataFrame,
    metric: str,
    tz_name: str,
    *,
    reference: float | None = None,
    reference_name: str = "",
) -> go.Figure:
    """One realised-error metric per model version over monitor runs (``frame``: timestamp,
    model_version, the metric, degraded); degraded points are marked, a reference line optional."""
    fig = go.Figure()
    for version, part in frame.groupby("model_version", sort=True):
        part = part.sort_values("timestamp")
        fig.add_trace(
            go.Scatter(
                x=part["timestamp"],
                y=part[metric],
                name=str(version),
                mode="lines+markers",
                marker={
                    "size": [12 if d else 7 for d in part["degraded"]],
                    "symbol": ["x" if d else "circle" for d in part["degraded"]],
                },
                hovertemplate=f"{version}: %{{y:.3g}}<extra></extra>",
            )
        )
    if reference is not None:
        fig.add_hline(
            y=reference,
            line_dash="dash",
            line_color=THRESHOLD_COLOR,
            annotation_text=reference_name,
            annotation_position="top left",
        )
    titles = {
        "mae": "MAE (hours)",
        "bias": "Bias (hours, predicted − actual)",
        "interval_coverage": "Interval coverage",
    }
    fig = _time_layout(
        fig, x_title=f"Monitor run ({tz_name}); × degraded", y_title=titles.get(metric, label(metric))
    )
    if metric == "interval_coverage":
        fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    if metric == "bias":
        fig.add_hline(y=0, line_color="#999", line_width=1)
    return fig
