"""The Alignment page's numbers and figures: one text in the teacher's and the student's
tokenizations (models.alignment), and at one group what each model predicts there.

    al = align_text(text, teacher_tok, student_tok)
    fig = tokenization_strips(al)                              both cuts, one above the other
    d = group_distributions(al, group, teacher, student, shared, temperature=2.0)
    shared_vocabulary_bars(d)   sorted_probability_lines(d)    what the losses compare

At a group both models have read the same text; the teacher's and the student's next-token
distributions there (softmax(z / T)) are what the cross-tokenizer losses compare: the KL part
of the aligned loss over the tokens both vocabularies spell alike (each side's other tokens one
"rest" bucket), and ULD over both distributions sorted by probability, which needs no
vocabulary map.
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from distill_core.app.viz import STUDENT_COLORS, TEACHER_COLOR, apply_layout
from distill_core.kd.cross_tokenizer import uld_distance
from distill_core.model_mode import eval_mode
from distill_core.models.alignment import TextAlignment

__all__ = ["group_distributions", "shared_vocabulary_bars", "sorted_probability_lines",
           "tokenization_strips"]

ALIGNED, SPLIT = "#2ca02c", "#ff7f0e"  # one token on each side; cut differently


def _pieces(al: TextAlignment, role: str) -> list[tuple[int, int]]:
    ends = al.teacher_ends if role == "teacher" else al.student_ends
    return list(zip([0, *ends[:-1]], ends))


def tokenization_strips(al: TextAlignment) -> go.Figure:
    """Both tokenizations as rows of boxes over the text's characters: a box per token, green
    where a group is one token on each side, orange where the two cut it differently; dotted
    lines at the cuts both share (the group boundaries)."""
    fig = go.Figure()
    for row, role in enumerate(("student", "teacher")):
        spans = {i: g for g in al.groups for i in range(*getattr(g, role))}
        pieces = _pieces(al, role)
        fig.add_trace(go.Bar(
            y=[role] * len(pieces), x=[max(b - a, 0.3) for a, b in pieces],
            base=[a for a, _ in pieces], orientation="h", name=role,
            marker=dict(color=[ALIGNED if spans.get(i) and spans[i].one_to_one else SPLIT
                               for i in range(len(pieces))], line=dict(color="white", width=2)),
            text=[al.text[a:b].replace(" ", "␣").replace("\n", "⏎") for a, b in pieces],
            textposition="inside", insidetextanchor="middle", showlegend=False,
            hovertemplate=f"{role}: %{{text}}<br>characters %{{base}} to %{{x}} long"
                          "<extra></extra>"))
    for g in al.groups:
        fig.add_vline(x=g.end, line=dict(color="#444", dash="dot", width=1))
    apply_layout(fig, f"{al.aligned_share:.0%} of the characters in tokens both cut alike",
                 "characters of the text", "")
    fig.update_layout(barmode="overlay", hovermode="closest", height=220)
    return fig


@torch.inference_mode()
def _next_token_probs(model, ids: list[int], position: int, temperature: float,
                      vocab: int) -> torch.Tensor:
    """softmax(z / T) (V,) of the token after ids[:position + 1], over the real tokens."""
    x = torch.tensor([ids[:position + 1]], device=next(model.parameters()).device)
    with eval_mode(model):
        logits = model(input_ids=x).logits[0, -1, :vocab]
    return torch.softmax(logits.float().cpu() / temperature, -1)


def group_distributions(al: TextAlignment, group: int, teacher, student, shared, *,
                        temperature: float, teacher_tok, student_tok, top: int = 15) -> dict:
    """At group `group` (not the first: something must come before it), both models' next-token
    distributions at T: the `top` shared tokens the teacher finds likeliest with both
    probabilities and each side's mass on all shared tokens (the rest is the aligned loss's
    one "rest" bucket), both full distributions sorted
    (their `top` largest), and the ULD distance between them."""
    g = al.groups[group]
    p_t = _next_token_probs(teacher, al.teacher_ids, g.teacher[0] - 1, temperature,
                            len(teacher_tok))
    p_s = _next_token_probs(student, al.student_ids, g.student[0] - 1, temperature,
                            len(student_tok))
    s_ids, t_ids = (torch.as_tensor(ids, dtype=torch.long) for ids in shared)
    on_t, on_s = p_t[t_ids], p_s[s_ids]
    order = on_t.argsort(descending=True)[:top]
    return {"group": al.text[g.start:g.end], "temperature": temperature,
            "tokens": [teacher_tok.convert_ids_to_tokens(int(t_ids[i])) for i in order],
            "teacher_shared": on_t[order].tolist(), "student_shared": on_s[order].tolist(),
            "teacher_mass": float(on_t.sum()), "student_mass": float(on_s.sum()),
            "teacher_sorted": p_t.sort(descending=True).values[:top].tolist(),
            "student_sorted": p_s.sort(descending=True).values[:top].tolist(),
            "uld": float(uld_distance(p_s.log()[None], p_t.log()[None])[0])}


def shared_vocabulary_bars(d: dict) -> go.Figure:
    """The teacher's likeliest shared tokens, both models' probabilities side by side."""
    fig = go.Figure([go.Bar(x=d["tokens"], y=d[f"{role}_shared"], name=role, marker_color=color)
                     for role, color in (("teacher", TEACHER_COLOR),
                                         ("student", STUDENT_COLORS[0]))])
    apply_layout(fig, f"Over the tokens both spell alike, at T = {d['temperature']:g} (teacher "
                 f"{d['teacher_mass']:.0%} of its mass there, student {d['student_mass']:.0%}; "
                 "the rest is one bucket)", "token (the teacher's spelling)", "probability")
    fig.update_layout(barmode="group")
    return fig


def sorted_probability_lines(d: dict) -> go.Figure:
    """ULD's view: each model's probabilities sorted from the largest, whatever the token."""
    rank = list(range(1, len(d["teacher_sorted"]) + 1))
    fig = go.Figure([go.Scatter(x=rank, y=d[f"{role}_sorted"], name=role, mode="lines+markers",
                                line=dict(color=color))
                     for role, color in (("teacher", TEACHER_COLOR),
                                         ("student", STUDENT_COLORS[0]))])
    apply_layout(fig, f"Sorted by probability (ULD distance {d['uld']:.3f}, over the whole "
                 "vocabularies)", "rank", "probability")
    return fig
