"""Plotly figure builders shared by the app's pages (pages stay thin; tests call these directly).

One colour for the teacher everywhere, one per student (in the order given), the baseline in
grey; axes carry their units; hover shows the numbers.
"""

from __future__ import annotations

import plotly.graph_objects as go

TEACHER_COLOR = "#d62728"  # red
BASELINE_COLOR = "#7f7f7f"  # grey
STUDENT_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                  "#bcbd22")


def student_color(i: int) -> str:
    return STUDENT_COLORS[i % len(STUDENT_COLORS)]


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, hovermode="x unified",
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


# --- soft labels ------------------------------------------------------------------------------


# --- runs -------------------------------------------------------------------------------------
