"""Plotly figures of predictions (pure: frames in, figures out), with hours on the axes."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from outagecast.webapp.formatting import label

# One colour per source on every chart, so "scheduled" never changes colour between views.
SOURCE_COLORS = {"webapp": "#1f77b4", "scheduled": "#ff7f0e"}
THRESHOLD_COLOR = "#d62728"
ADDS_COLOR = "#d62728"  # an input that makes the outage longer
REMOVES_COLOR = "#1f77b4"  # an input that makes it shorter


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


def contributions_chart(contributions: Mapping[str, float]) -> go.Figure:
    """Hours each input adds to (or removes from) the average prediction, largest at the top."""
    items = sorted(contributions.items(), key=lambda kv: abs(kv[1]))
    names = [label(name) for name, _ in items]
    hours = [float(value) for _, value in items]
    fig = go.Figure(
        go.Bar(
            x=hours,
            y=names,
            orientation="h",
            marker_color=[ADDS_COLOR if h > 0 else REMOVES_COLOR for h in hours],
            text=[f"{h:+.2f} h" for h in hours],
            textposition="outside",
            hovertemplate="%{y}: %{x:+.2f} hours<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="Contribution (hours)",
        height=60 + 32 * len(items),
        margin={"t": 10, "b": 10, "l": 10, "r": 10},
    )
    fig.update_xaxes(zeroline=True, zerolinecolor="#888")
    return fig


def _threshold_line(fig: go.Figure, threshold_hours: float, *, vertical: bool) -> None:
    text = f"anomaly threshold ({threshold_hours:g} h)"
    style = {"line_dash": "dash", "line_color": THRESHOLD_COLOR, "annotation_text": text}
    if vertical:
        # Left of the line: when the line is the right-most thing drawn, text on its right is cut.
        fig.add_vline(x=threshold_hours, annotation_position="top left", **style)
    else:
        fig.add_hline(y=threshold_hours, annotation_position="top left", **style)
