"""Loss conventions: the same names (T, α, β, the divergence) computed as five tools compute
them, beside this project's loss split into its parts, on the chosen pair and a prompt."""

import pandas as pd
import streamlit as st

from app_pages._models import chosen_pair, fetched, student, teacher
from app_pages._widgets import metrics
from distill_core import InputError
from distill_core.app.conventions import loss_table, prompt_positions
from distill_core.app.metric_rows import Metric
from distill_core.kd.losses import KINDS

st.title("Loss conventions")
st.caption("TRL, Axolotl, DistillKit and Liger use the words temperature, alpha and beta, but "
           "not always for the same thing: where T is applied, whether T² scales the KD term, "
           "what β means at 0 and 1, and whether hard-label cross-entropy is mixed in. Each "
           "row below is that tool's formula, read from the source file it names, on the same "
           "logits. Losses in nats, averaged over the prompt's positions.")
t_spec, s_spec = chosen_pair()
if not fetched(t_spec, s_spec):
    st.stop()
prompt = st.text_input("Prompt", "Once upon a time, a little fox found a shiny stone",
                       key="conv_prompt")
cols = st.columns(4)
temperature = cols[0].number_input("Temperature T", 0.05, 100.0, 2.0, step=0.5, key="conv_T")
alpha = cols[1].slider("α (KD weight)", 0.0, 1.0, 0.5, step=0.05, key="conv_alpha")
beta = cols[2].slider("β", 0.0, 1.0, 0.5, step=0.05, key="conv_beta")
kind = cols[3].selectbox("Divergence", KINDS, key="conv_kind")

try:
    t_model, t_tok = teacher(t_spec)
    s_logits, t_logits, labels = prompt_positions(t_model, student(s_spec, t_spec), t_tok,
                                                  prompt)
except InputError as err:
    st.error(str(err))
    st.stop()

rows = loss_table(s_logits, t_logits, labels, alpha=alpha, temperature=temperature, kind=kind,
                  beta=beta)
ours = rows[0]
if ours["divergence"] != ours["divergence"]:  # NaN: our loss refuses these settings
    st.warning(f"This project refuses these settings: {ours['computed']}")
metrics([Metric("Our divergence D_T", f"{ours['divergence']:.4f} nats"),
         Metric("Our cross-entropy", f"{ours['ce']:.4f} nats"),
         Metric("Our total α T² D + (1 − α) CE", f"{ours['total']:.4f} nats")])

table = pd.DataFrame(rows).set_index("tool")
numbers = ["divergence", "ce", "kd weight", "ce weight", "total", "total - ours"]
far = table["total - ours"].abs() > 1e-4


def mark(row):
    colour = "background-color: rgba(255, 170, 0, 0.25)" if far[row.name] else ""
    return [colour if c in ("total", "total - ours") else "" for c in row.index]


st.dataframe(table.style.apply(mark, axis=1).format("{:.4f}", subset=numbers),
             key="conv_table")
st.caption(f"{len(labels)} positions. Highlighted: a total more than 0.0001 nats from ours. "
           "'computed' says whether TRL's own function ran (trl installed) or the formula was "
           "written out here. Tools that have no counterpart for a divergence use what "
           "`distill export --as` maps it to (tvd → β 0.5, skew_kl → β 0).")
