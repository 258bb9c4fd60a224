"""Plotly figure builders shared by the app's pages (pages stay thin; tests call these directly).

One colour for the teacher everywhere, one per student (in the order given), the baseline in
grey; axes carry their units; hover shows the numbers.
"""

from __future__ import annotations

import plotly.graph_objects as go

from distill_core import metrics

TEACHER_COLOR = "#d62728"  # red
BASELINE_COLOR = "#7f7f7f"  # grey
STUDENT_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                  "#bcbd22")


def student_color(i: int) -> str:
    return STUDENT_COLORS[i % len(STUDENT_COLORS)]


def apply_layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    """Title, axis titles with units, and the legend in a row at the very bottom of the figure
    (the container's, not the plot's, bottom): the margins grow to fit tick labels, however
    long or tilted, then the axis title, then the legend, so none of them overlap."""
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, hovermode="x unified",
                      margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", yref="container", y=0, yanchor="bottom"))
    fig.update_xaxes(automargin=True, title_standoff=12)
    fig.update_yaxes(automargin=True)
    return fig


# --- soft labels ------------------------------------------------------------------------------

EVERYTHING_ELSE = "everything else"


def soft_label_bars(view: dict, title: str = "Next-token probabilities",
                    names: tuple[str, str] = ("teacher", "student")) -> go.Figure:
    """Teacher vs student probability at T for the teacher's top tokens, then everything else.

    `view` is `explore.soft_label_view(...)`; bar heights are its numbers, unchanged. `names`
    labels the two sets of bars (e.g. the trained teacher against an early snapshot of it).
    """
    labels = [*view["tokens"], EVERYTHING_ELSE]
    fig = go.Figure()
    for name, color, probs in (
            (names[0], TEACHER_COLOR, [*view["teacher"], view["teacher_rest"]]),
            (names[1], student_color(0), [*view["student"], view["student_rest"]])):
        fig.add_bar(x=labels, y=probs, name=name, marker_color=color,
                    hovertemplate="%{x}: %{y:.4f}<extra>" + name + "</extra>")
    fig.update_layout(barmode="group", yaxis_range=[0, 1])
    fig.update_xaxes(type="category")
    return apply_layout(fig, f"{title} at T = {view['temperature']:g}", "next token", "probability")


def kl_contributions(view: dict, kind: str = "forward_kl") -> go.Figure:
    """Each shown token's term of the KL divergence at T, then all other tokens' terms summed.

    forward_kl: p·log(p/q), KL(teacher‖student), large where the teacher puts mass the student
    misses (mode-covering). reverse_kl: q·log(q/p), KL(student‖teacher), large where the
    student puts mass the teacher does not (mode-seeking). Bars sum to the divergence (nats);
    single terms can be negative.
    """
    if kind not in ("forward_kl", "reverse_kl"):
        raise ValueError(f"kind must be 'forward_kl' or 'reverse_kl', not {kind!r}")
    terms = [*view[kind], view[f"{kind}_rest"]]
    name = "KL(teacher‖student)" if kind == "forward_kl" else "KL(student‖teacher)"
    color = TEACHER_COLOR if kind == "forward_kl" else student_color(0)
    fig = go.Figure()
    fig.add_bar(x=[*view["tokens"], EVERYTHING_ELSE], y=terms, name=name, marker_color=color,
                hovertemplate="%{x}: %{y:.4f} nats<extra></extra>")
    fig.update_xaxes(type="category")
    return apply_layout(fig, f"Where {name} = {sum(terms):.3f} nats comes from, at T = "
                        f"{view['temperature']:g}", "next token", "contribution (nats)")


def _rank_lines(view: dict) -> list[tuple[str, str, str, dict]]:
    """(name, colour, dash, series) for a `mass_by_rank` view: the teacher at T = 1 (left out
    when T is 1), the teacher at T and the student at T."""
    t = view["temperature"]
    lines = [("teacher at T = 1", TEACHER_COLOR, "dot", view["teacher_t1"])] if t != 1 else []
    return lines + [(f"teacher at T = {t:g}", TEACHER_COLOR, "solid", view["teacher"]),
                    (f"student at T = {t:g}", student_color(0), "solid", view["student"])]


def top_k_mass_curves(view: dict) -> go.Figure:
    """How much probability the k most likely tokens hold as k grows (log-scaled k, 1 … V), for
    the teacher at T = 1 against the teacher and the student at the chosen T: the view of what
    T does that still works at a 49,152-token vocabulary. `view` is `explore.mass_by_rank`."""
    fig = go.Figure()
    for name, color, dash, series in _rank_lines(view):
        _curve(fig, view["k"], series["mass"], f"{name} ({series['k_level']:,} tokens hold "
               f"{view['level']:.0%})", color, dash, "top %{x:,}: %{y:.3f}", name)
    fig.add_hline(y=view["level"], line={"color": BASELINE_COLOR, "dash": "dash", "width": 1})
    fig.update_xaxes(type="log")
    fig.update_yaxes(range=[0, 1.02])
    return apply_layout(fig, f"Probability held by the top k of {view['vocab']:,} tokens, at T = "
                        f"{view['temperature']:g}", "k most likely tokens (log scale)",
                        "probability they hold")


def log_prob_by_rank(view: dict) -> go.Figure:
    """The k-th most likely token's log-probability (nats) against its rank k (log scale): T
    divides the logits, so the curve's drop from rank 1 to the last rank shrinks T-fold."""
    fig = go.Figure()
    for name, color, dash, series in _rank_lines(view):
        _curve(fig, view["k"], series["log_prob"], name, color, dash,
               "rank %{x:,}: %{y:.2f} nats", name)
    fig.update_xaxes(type="log")
    return apply_layout(fig, f"Log-probability by rank, at T = {view['temperature']:g}",
                        "rank (log scale)", "log-probability (nats)")


# --- runs -------------------------------------------------------------------------------------

# Loss parts as the training loop logs them: (metrics key, legend label, line dash).
LOSS_PARTS = (("loss", "total", "solid"), ("kd", "KD (teacher)", "dash"),
              ("ce", "CE (real tokens)", "dot"), ("hidden", "hidden states", "longdash"))


def _series(records: list[dict], key: str) -> tuple[list, list]:
    """(steps, values) of the records that hold a number under `key` (eval-only keys skip steps)."""
    points = [(r["step"], r[key]) for r in records if r.get(key) is not None and "step" in r]
    return [s for s, _ in points], [v for _, v in points]


def _curve(fig: go.Figure, x, y, name: str, color: str, dash: str, hover: str,
           group: str, markers: bool = False) -> None:
    fig.add_scatter(x=x, y=y, name=name, legendgroup=group, mode="lines+markers" if markers
                    else "lines", line={"color": color, "dash": dash},
                    hovertemplate=f"{hover}<extra>{group}</extra>")


def learning_curves(runs: dict[str, list[dict]]) -> go.Figure:
    """Training loss per step of each run (metrics.jsonl records, keyed by a label).

    One colour per run, one dash per part (total, KD, CE, and hidden states where the run has
    them); a run trained with a baseline also gets the baseline's loss (the same student
    without the teacher) in grey.
    """
    fig = go.Figure()
    for i, (name, records) in enumerate(runs.items()):
        for key, part, dash in LOSS_PARTS:
            x, y = _series(records, key)
            if key == "hidden" and not x:  # logged by runs with hidden_weight only
                continue
            _curve(fig, x, y, f"{name} · {part}", student_color(i), dash,
                   f"{part}: %{{y:.3f}} nats/token", name)
        x, y = _series(records, "baseline_loss")
        if x:
            _curve(fig, x, y, f"{name} · baseline (no teacher)", BASELINE_COLOR, "dashdot",
                   "baseline: %{y:.3f} nats/token", name)
    return apply_layout(fig, "Training loss", "step", "loss (nats/token)")


def perplexity_curves(runs: dict[str, list[dict]],
                      teacher_ppl: float | dict[str, float] | None = None) -> go.Figure:
    """Validation perplexity at each evaluation, with the teacher's as a dashed line.

    `teacher_ppl` is one number (a line named "teacher") or {label: perplexity} when the runs
    were measured against different teachers or data. Baselines, where present, are grey.
    """
    fig = go.Figure()
    last_step = max((r.get("step", 0) for records in runs.values() for r in records), default=1)
    for i, (name, records) in enumerate(runs.items()):
        x, y = _series(records, "val_ppl")
        _curve(fig, x, y, f"{name} · student", student_color(i), "solid",
               "student: %{y:.2f}", name, markers=True)
        x, y = _series(records, "baseline_val_ppl")
        if x:
            _curve(fig, x, y, f"{name} · baseline (no teacher)", BASELINE_COLOR, "dashdot",
                   "baseline: %{y:.2f}", name, markers=True)
    lines = teacher_ppl if isinstance(teacher_ppl, dict) else {"teacher": teacher_ppl}
    for label, ppl in lines.items():
        if ppl is not None:
            _curve(fig, [0, last_step or 1], [ppl, ppl], label, TEACHER_COLOR, "dash",
                   f"{label}: %{{y:.2f}}", label)
    fig.update_yaxes(type="log")
    return apply_layout(fig, "Validation perplexity (lower is better)", "step",
                        "perplexity (exp of nats/token, log scale)")


def teacher_lines(summaries: dict[str, dict]) -> dict[str, float]:
    """The teacher lines for `perplexity_curves` over runs' summaries ({run id: summary}): one
    line named "teacher" when every run measured the same teacher perplexity, else one per run,
    "teacher (<run id>)". Runs without a teacher perplexity draw none."""
    lines = {f"teacher ({i})": s["teacher_ppl"] for i, s in summaries.items()
             if s.get("teacher_ppl") is not None}
    if len({round(v, 6) for v in lines.values()}) == 1:
        return {"teacher": next(iter(lines.values()))}
    return lines


def agreement_curves(runs: dict[str, list[dict]]) -> go.Figure:
    """How often the student's top next token is the teacher's, at each evaluation."""
    fig = go.Figure()
    for i, (name, records) in enumerate(runs.items()):
        x, y = _series(records, "agreement")
        _curve(fig, x, [100 * v for v in y], name, student_color(i), "solid",
               "agreement: %{y:.1f} %", name, markers=True)
    fig.update_yaxes(range=[0, 100])
    return apply_layout(fig, "Top-1 agreement with the teacher", "step",
                        "agreement (% of tokens)")


RUN_FIGURES = ("training loss", "validation perplexity", "agreement")


def run_figure(name: str, run_id: str, records: list[dict],
               teacher_ppl: float | None = None) -> go.Figure:
    """One of RUN_FIGURES for a single run (its metrics.jsonl records), e.g. to export."""
    runs = {run_id: records}
    if name == "training loss":
        return learning_curves(runs)
    if name == "validation perplexity":
        return perplexity_curves(runs, teacher_ppl)
    if name == "agreement":
        return agreement_curves(runs)
    raise ValueError(f"figure must be one of {RUN_FIGURES}, not {name!r}")


def hard_vs_soft_bars(view: dict) -> go.Figure:
    """The teacher's soft label at T (its probabilities) beside the hard label (one-hot on the
    token that came next, taken here as the teacher's top token): what each kind of training
    target says about the same position."""
    labels = [*view["tokens"], EVERYTHING_ELSE]
    hard = [1.0 if i == 0 else 0.0 for i in range(len(labels))]
    fig = go.Figure()
    fig.add_bar(x=labels, y=hard, name="hard label (one-hot)", marker_color=BASELINE_COLOR,
                hovertemplate="%{x}: %{y:.0f}<extra>hard label</extra>")
    fig.add_bar(x=labels, y=[*view["teacher"], view["teacher_rest"]], name="soft label (teacher)",
                marker_color=TEACHER_COLOR, hovertemplate="%{x}: %{y:.4f}<extra>soft label</extra>")
    fig.update_layout(barmode="group", yaxis_range=[0, 1])
    fig.update_xaxes(type="category")
    return apply_layout(fig, f"Hard label against soft label at T = {view['temperature']:g}",
                        "next token", "probability")


def entropy_curve(temperatures, entropies, current: float | None = None) -> go.Figure:
    """The teacher's entropy (nats) as T grows, log-scaled T axis, the chosen T marked."""
    fig = go.Figure()
    _curve(fig, list(temperatures), list(entropies), "teacher entropy", TEACHER_COLOR, "solid",
           "T = %{x:g}: %{y:.3f} nats", "teacher")
    if current is not None:
        y = min(zip(temperatures, entropies), key=lambda te: abs(te[0] - current))[1]
        fig.add_scatter(x=[current], y=[y], mode="markers", name=f"T = {current:g}",
                        marker=dict(size=14, color=TEACHER_COLOR, symbol="diamond"),
                        hovertemplate="%{y:.3f} nats<extra>chosen T</extra>")
    fig.update_xaxes(type="log")
    return apply_layout(fig, "Entropy of the teacher's next-token distribution", "temperature T",
                        "entropy (nats)")


def probe_bars(line: dict, prompt: str) -> go.Figure:
    """One recorded probe (a `probes.load` line): teacher against the student at that step."""
    view = line["probes"][prompt]
    return soft_label_bars(view, title=f"“{prompt} …” at step {line['step']}")


def toy_kl_fit(demo: dict, kind: str) -> go.Figure:
    """The two-peaked target and the one-peaked student fitted by `kind` (toy_kl.demo)."""
    fit = demo["forward" if kind == "forward_kl" else "reverse"]
    name = ("forward KL(target‖student)" if kind == "forward_kl"
            else "reverse KL(student‖target)")
    fig = go.Figure()
    fig.add_scatter(x=demo["x"], y=demo["target"], name="target (two peaks)", fill="tozeroy",
                    line={"color": TEACHER_COLOR}, hovertemplate="x = %{x:.2f}: %{y:.4f}"
                    "<extra>target</extra>")
    fig.add_scatter(x=demo["x"], y=fit["probs"], name="student (one peak)",
                    line={"color": student_color(0), "width": 3},
                    hovertemplate="x = %{x:.2f}: %{y:.4f}<extra>student</extra>")
    fig.update_layout(hovermode="closest")
    return apply_layout(fig, f"Fitted by {name} = {fit[kind]:.3f} nats", "x", "probability")


def sweep_metric_titles() -> dict[str, str]:
    """{key: title} of what a sweep's heatmap can be coloured by: the metrics table's "sweep"
    view, each titled with which way is better."""
    return {m.key: f"final {m.label}" + (f" ({m.better})" if m.better else "")
            for m in metrics.shown("sweep")}


def sweep_heatmap(cells: list[dict], metric: str = "student_ppl") -> go.Figure:
    """α (rows) × T (columns) grid of a sweep's finished cells; unfinished cells are blank and
    labelled with their state. Each cell's customdata is its run id (for click-to-open). The
    darker a cell, the better its number (the metrics table says which way is better)."""
    m = metrics.get(metric, "sweep")  # InputError (a ValueError) for any other
    title = sweep_metric_titles()[metric]
    scale = "Blues_r" if m.lower_is_better else "Greens"
    alphas = sorted({c["alpha"] for c in cells})
    temps = sorted({c["temperature"] for c in cells})
    z = [[None] * len(temps) for _ in alphas]
    text = [[""] * len(temps) for _ in alphas]
    ids = [[None] * len(temps) for _ in alphas]
    for c in cells:
        i, j = alphas.index(c["alpha"]), temps.index(c["temperature"])
        value = m.number(c.get(metric))  # in the unit of the column (a fraction in %)
        z[i][j], ids[i][j] = value, c.get("run_id")
        text[i][j] = (f"{m.cell(c.get(metric))} {m.unit}".rstrip() if value is not None
                      else c.get("state") or "")
    xs, ys = [f"{t:g}" for t in temps], [f"{a:g}" for a in alphas]
    fig = go.Figure(go.Heatmap(x=xs, y=ys, z=z, text=text, texttemplate="%{text}",
                               customdata=ids, colorscale=scale, colorbar={"title": ""},
                               hoverinfo="skip"))
    # Heatmap cells do not report clicks; a clear marker on each cell does (customdata = run).
    cells_xy = [(xs[j], ys[i], ids[i][j], text[i][j]) for i in range(len(ys))
                for j in range(len(xs)) if ids[i][j]]
    fig.add_scatter(x=[c[0] for c in cells_xy], y=[c[1] for c in cells_xy], mode="markers",
                    customdata=[c[2] for c in cells_xy], text=[c[3] for c in cells_xy],
                    marker={"size": 40, "symbol": "square", "color": "rgba(0,0,0,0)"},
                    showlegend=False, name="cells",
                    hovertemplate="α = %{y}, T = %{x}: %{text}<br>run %{customdata}"
                                  "<extra>click to open</extra>")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    fig.update_layout(hovermode="closest")
    return apply_layout(fig, title, "temperature T", "α (weight of the soft labels)")


def probe_kl_curves(lines: list[dict]) -> go.Figure:
    """KL(teacher‖student) at T = 1 on each probe prompt over the recorded steps (nats)."""
    fig = go.Figure()
    prompts = list(lines[0]["probes"]) if lines else []
    for i, prompt in enumerate(prompts):
        points = [(line["step"], line["probes"][prompt]["kl"]) for line in lines
                  if prompt in line["probes"]]
        _curve(fig, [s for s, _ in points], [k for _, k in points], f"“{prompt} …”",
               student_color(i), "solid", "KL: %{y:.3f} nats", prompt, markers=True)
    return apply_layout(fig, "How far the student is from the teacher on each probe", "step",
                        "KL(teacher‖student) (nats)")
