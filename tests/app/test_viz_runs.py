"""The run figures in viz.py, checked through their figure dicts (no browser)."""

import pytest

from distill_core.app.viz import (
    BASELINE_COLOR,
    TEACHER_COLOR,
    agreement_curves,
    learning_curves,
    perplexity_curves,
    student_color,
)


def records(offset=0.0, baseline=False, eval_every=2, steps=4):
    out = []
    for step in range(1, steps + 1):
        r = {"step": step, "elapsed_s": step * 0.5, "loss": 5 - step + offset,
             "kd": 3 - step / 2 + offset, "ce": 6 - step + offset, "lr": 1e-3}
        if baseline:
            r["baseline_loss"] = 6.5 - step
        if step % eval_every == 0:
            r.update(val_loss=4.0 - step / 10, val_ppl=60.0 - step, teacher_val_ppl=20.0,
                     agreement=0.2 + step / 20, kl=0.5)
            if baseline:
                r["baseline_val_ppl"] = 70.0 - step
        out.append(r)
    return out


def traces(fig):
    return {t["name"]: t for t in fig.to_dict()["data"]}


def test_learning_curves_one_colour_per_run_one_dash_per_part():
    runs = {"a": records(baseline=True), "b": records(offset=1.0)}
    t = traces(learning_curves(runs))
    assert list(t) == ["a · total", "a · KD (teacher)", "a · CE (real tokens)",
                       "a · baseline (no teacher)", "b · total", "b · KD (teacher)",
                       "b · CE (real tokens)"]
    assert [t[f"b · {p}"]["line"]["color"] for p in ("total", "KD (teacher)", "CE (real tokens)")
            ] == [student_color(1)] * 3
    assert {t[f"a · {p}"]["line"]["dash"] for p in ("total", "KD (teacher)", "CE (real tokens)")
            } == {"solid", "dash", "dot"}
    assert t["a · baseline (no teacher)"]["line"]["color"] == BASELINE_COLOR
    assert list(t["b · KD (teacher)"]["x"]) == [1, 2, 3, 4]
    assert list(t["b · KD (teacher)"]["y"]) == [r["kd"] for r in runs["b"]]
    assert list(t["a · baseline (no teacher)"]["y"]) == [r["baseline_loss"] for r in runs["a"]]
    assert "nats/token" in t["a · total"]["hovertemplate"]


def test_axes_carry_units():
    figs = {"loss (nats/token)": learning_curves({"a": records()}),
            "perplexity": perplexity_curves({"a": records()}, 20.0),
            "agreement (% of tokens)": agreement_curves({"a": records()})}
    for y_title, fig in figs.items():
        layout = fig.to_dict()["layout"]
        assert layout["xaxis"]["title"]["text"] == "step"
        assert layout["yaxis"]["title"]["text"].startswith(y_title)


def test_perplexity_has_the_teacher_as_a_dashed_line_and_eval_points_only():
    runs = {"a": records(baseline=True), "b": records(eval_every=1)}
    t = traces(perplexity_curves(runs, teacher_ppl=20.0))
    assert list(t["a · student"]["x"]) == [2, 4]
    assert list(t["a · student"]["y"]) == [58.0, 56.0]
    assert list(t["b · student"]["y"]) == [59.0, 58.0, 57.0, 56.0]
    assert t["b · student"]["line"]["color"] == student_color(1)
    assert t["a · baseline (no teacher)"]["line"]["color"] == BASELINE_COLOR
    assert list(t["a · baseline (no teacher)"]["y"]) == [68.0, 66.0]
    teacher = t["teacher"]
    assert teacher["line"] == {"color": TEACHER_COLOR, "dash": "dash"}
    assert list(teacher["y"]) == [20.0, 20.0] and list(teacher["x"]) == [0, 4]


def test_perplexity_with_one_teacher_line_per_label_or_none():
    t = traces(perplexity_curves({"a": records()}, {"teacher (a)": 20.0, "teacher (b)": 31.5}))
    assert list(t["teacher (b)"]["y"]) == [31.5, 31.5]
    assert t["teacher (a)"]["line"]["color"] == TEACHER_COLOR
    assert list(traces(perplexity_curves({"a": records()}, None))) == ["a · student"]


def test_agreement_in_percent():
    runs = {"a": records(), "b": records(eval_every=4)}
    fig = agreement_curves(runs)
    t = traces(fig)
    assert list(t["a"]["y"]) == pytest.approx([30.0, 40.0])
    assert list(t["b"]["x"]) == [4] and t["b"]["line"]["color"] == student_color(1)
    assert list(fig.to_dict()["layout"]["yaxis"]["range"]) == [0, 100]


def test_a_run_with_no_steps_yet_still_draws():
    assert list(traces(learning_curves({"a": []}))["a · total"]["x"]) == []
    assert list(traces(perplexity_curves({}, 20.0))) == ["teacher"]


def test_teacher_lines_merge_when_every_run_measured_the_same_teacher():
    from distill_core.app.viz import teacher_lines

    same = {"a": {"teacher_ppl": 20.0}, "b": {"teacher_ppl": 20.0000001}}
    assert teacher_lines(same) == {"teacher": 20.0}
    apart = {"a": {"teacher_ppl": 20.0}, "b": {"teacher_ppl": 31.5}, "c": {}}
    assert teacher_lines(apart) == {"teacher (a)": 20.0, "teacher (b)": 31.5}
    assert teacher_lines({"a": {"teacher_ppl": None}}) == {}


def test_one_runs_figures_by_name():
    from distill_core.app.viz import RUN_FIGURES, run_figure

    figures = {name: traces(run_figure(name, "r1", records(), 20.0)) for name in RUN_FIGURES}
    assert "r1 · total" in figures["training loss"]
    assert list(figures["validation perplexity"]["teacher"]["y"]) == [20.0, 20.0]
    assert list(figures["agreement"]) == ["r1"]
    with pytest.raises(ValueError, match="training loss"):
        run_figure("loss", "r1", records())
