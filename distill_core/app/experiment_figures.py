"""The experiments' figures (plotly), drawn from a result's numbers, and saved beside them.

    fig = experiment_figure(result)          # result.json of distill_core.training.experiments
    paths = save_figure(fig, folder)         # figure.html always, figure.png when it can

Where runs repeat over seeds a point is the mean and its error bar the spread (the sample
standard deviation, training.stats). Colours as in viz: the teacher red, students blue, green…,
the no-teacher baseline grey.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from distill_core.app.viz import (BASELINE_COLOR, TEACHER_COLOR, apply_layout, student_color,
                                  sweep_heatmap)
from distill_core.training.experiments import best_cells, limits_points, student_start
from distill_core.training.stats import mean_spread, plus_minus

__all__ = ["capacity_curve", "data_size_curves", "experiment_figure", "pareto_plot",
           "save_figure", "temperature_curves", "tuning_heatmap"]


def _groups(records: list[dict], key: str, metric: str, **where) -> tuple[list, list, list]:
    """(x values, means, spreads) of `metric` grouped by `key`, in first-seen order."""
    xs, means, spreads = [], [], []
    for x in dict.fromkeys(r[key] for r in records if all(r.get(k) == v
                                                          for k, v in where.items())):
        values = [r[metric] for r in records if r[key] == x and r.get(metric) is not None
                  and all(r.get(k) == v for k, v in where.items())]
        if values:
            mean, spread = mean_spread(values)
            xs.append(x), means.append(mean), spreads.append(spread)
    return xs, means, spreads


def _line(fig, x, y, spread, name, color, dash="solid", hover="%{y:.3f}", **where) -> None:
    """A line with markers and, given the spreads, error bars; `where`: row, col, secondary_y."""
    bars = {"type": "data", "array": spread, "visible": spread is not None}
    fig.add_scatter(x=x, y=y, error_y=bars, name=name, mode="lines+markers",
                    line={"color": color, "dash": dash},
                    hovertemplate=f"{hover}<extra>{name}</extra>", **where)


def data_size_curves(data: dict) -> go.Figure:
    """soft-labels: perplexity of the KD student, the baseline and the teacher (left) and the
    share of the gap closed (right) against the number of training stories (log scale)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("validation perplexity",
                                                        "gap closed by distillation (%)"))
    records = data["records"]
    for metric, name, color in (("student_ppl", "student with the teacher (KD)",
                                 student_color(0)),
                                ("baseline_ppl", "same student, no teacher", BASELINE_COLOR),
                                ("teacher_ppl", "teacher", TEACHER_COLOR)):
        _line(fig, *_groups(records, "train_docs", metric), name, color, row=1, col=1)
    _line(fig, *_groups(records, "train_docs", "gap_closed_pct"), "gap closed",
          student_color(1), hover="%{y:.1f} %", row=1, col=2)
    fig.update_xaxes(type="log", title_text="training stories (log scale)",
                     tickvals=sorted({r["train_docs"] for r in records}))
    title = (f"Soft labels against none, by amount of data (α = {data['alpha']:g}, "
             f"T = {data['temperature']:g})")
    return apply_layout(fig, title, "training stories (log scale)", "")


def temperature_curves(data: dict) -> go.Figure:
    """temperature: the student's perplexity over T (left); the teacher's entropy and top-k
    mass over T (right)."""
    fig = make_subplots(rows=1, cols=2, specs=[[{}, {"secondary_y": True}]],
                        subplot_titles=("student perplexity", "teacher's soft labels"))
    _line(fig, *_groups(data["records"], "temperature", "student_ppl"), "student",
          student_color(0), row=1, col=1)
    temps = [p["temperature"] for p in data["teacher"]]
    _line(fig, temps, [p["entropy"] for p in data["teacher"]], None, "teacher entropy (nats)",
          TEACHER_COLOR, row=1, col=2)
    _line(fig, temps, [100 * p["top_k_mass"] for p in data["teacher"]], None,
          f"teacher top-{data['top_k']} mass (%)", TEACHER_COLOR, "dot", "%{y:.1f} %",
          row=1, col=2, secondary_y=True)
    fig.update_xaxes(type="log", title_text="temperature T (log scale)", tickvals=temps)
    fig.update_yaxes(title_text="validation perplexity", row=1, col=1)
    fig.update_yaxes(title_text="entropy (nats)", row=1, col=2, secondary_y=False)
    fig.update_yaxes(title_text=f"top-{data['top_k']} mass (%)", row=1, col=2, secondary_y=True)
    return apply_layout(fig, f"Temperature at α = {data['alpha']:g}", "temperature T (log scale)",
                        "validation perplexity")


def capacity_curve(data: dict) -> go.Figure:
    """capacity: retention (teacher ppl / student ppl, %) against the student's parameters,
    from the trained teacher, and the compared student from the early teacher."""
    fig = go.Figure()
    for i, teacher in enumerate((data["teacher"], data["early_teacher"])):
        records = [r for r in data["records"] if r["teacher"] == teacher]
        students, means, spreads = _groups(records, "student", "retention_pct")
        params = [next(r["student_params"] for r in records if r["student"] == s)
                  for s in students]
        fig.add_scatter(x=params, y=means, error_y={"type": "data", "array": spreads},
                        text=[f"{s.split(':')[-1]} ({student_start(s)})" for s in students],
                        name=f"from {teacher}",
                        mode="lines+markers+text", textposition="top center",
                        marker={"color": TEACHER_COLOR if i else student_color(0), "size": 10},
                        hovertemplate="%{text}: %{y:.1f} %<extra></extra>")
    fig.update_xaxes(type="log")
    return apply_layout(fig, "How much of the teacher a student keeps, by its size",
                        "student parameters (log scale)",
                        "retention (teacher ppl / student ppl, %)")


def tuning_heatmap(data: dict) -> go.Figure:
    """tuning: the α × T grid at seed 0 coloured by student perplexity, the best cell (of the
    two repeated over seeds) named in the title."""
    cells = [{**r, "state": "done"} for r in data["records"] if r["seed"] == 0]
    best, _ = best_cells(data)
    ppl = [r["student_ppl"] for r in data["records"]
           if (r["alpha"], r["temperature"]) == best]
    fig = sweep_heatmap(cells, "student_ppl")
    fig.update_layout(title_text=f"Student perplexity over α × T (seed 0); best over "
                      f"{len(ppl)} seeds: α = {best[0]:g}, T = {best[1]:g} ({plus_minus(ppl)})")
    return fig


def pareto_plot(data: dict) -> go.Figure:
    """limits: perplexity against forward speed-up for the teacher and each student (marker
    size: size on disk), the Pareto front joined; the compared student from the imperfect
    teacher and without any teacher, mean ± spread."""
    points = limits_points(data)
    fig = go.Figure()
    front = sorted((p for p in points if p["front"]), key=lambda p: p["speedup"])
    fig.add_scatter(x=[p["speedup"] for p in front], y=[p["ppl"] for p in front],
                    mode="lines", name="Pareto front", line={"color": BASELINE_COLOR,
                                                             "dash": "dash"})
    fig.add_scatter(x=[p["speedup"] for p in points], y=[p["ppl"] for p in points],
                    text=[p["name"] for p in points], mode="markers+text",
                    textposition="top center", name=f"from {data['teacher']}",
                    marker={"size": [8 + p["size_pct"] / 5 for p in points],
                            "color": [TEACHER_COLOR] + [student_color(0)] * (len(points) - 1)},
                    hovertemplate="%{text}: %{x:.2f}x, ppl %{y:.3f}<extra></extra>")
    early = [r for r in data["records"] if r["teacher"] == data["early_teacher"]]
    speed = next((p["speedup"] for p in points if p["name"] == data["student"].split(":")[-1]),
                 None)
    for metric, name, color in (("student_ppl", f"from {data['early_teacher']}", TEACHER_COLOR),
                                ("baseline_ppl", "no teacher", BASELINE_COLOR)):
        mean, spread = mean_spread([r[metric] for r in early])
        fig.add_scatter(x=[speed], y=[mean], error_y={"type": "data", "array": [spread]},
                        mode="markers", name=f"{data['student']} {name}",
                        marker={"color": color, "symbol": "x", "size": 12},
                        hovertemplate="%{y:.3f}<extra>" + name + "</extra>")
    fig.update_layout(hovermode="closest")
    fig.update_yaxes(type="log")
    return apply_layout(fig, "Quality against speed (lower perplexity, further right: better)",
                        "forward speed-up over the teacher (x)",
                        "validation perplexity (log scale)")


FIGURES = {"soft-labels": data_size_curves, "temperature": temperature_curves,
           "capacity": capacity_curve, "tuning": tuning_heatmap, "limits": pareto_plot}


def experiment_figure(result: dict) -> go.Figure:
    """The figure of a finished experiment's result (result.json)."""
    return FIGURES[result["name"]](result["data"])


def save_figure(fig: go.Figure, folder, png: bool = True) -> list[Path]:
    """Write figure.html (plotly.js inside, so it opens offline) and, with `png` and when
    kaleido can drive a browser here (about 4 s), figure.png; returns the paths written. A
    failed PNG export is not an error."""
    folder = Path(folder)
    paths = [folder / "figure.html"]
    fig.write_html(paths[0], include_plotlyjs=True)
    if not png:
        return paths
    try:
        fig.write_image(folder / "figure.png", width=1200, height=560)
        paths.append(folder / "figure.png")
    except Exception:  # noqa: BLE001 — no kaleido or no browser: the HTML is enough
        pass
    return paths
