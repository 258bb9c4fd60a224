"""Soft labels: what temperature T does to the teacher's next-token distribution, and what the
distillation loss makes of it at weight α. Models run once per prompt; sliders only redo math."""

import streamlit as st

from app_pages._distribution import distribution_chart, pair_logits, prompt_box, view_choice
from app_pages._models import chosen_pair, fetched, teacher
from app_pages._session import keep_in_url, presenting, use_shared_state
from app_pages._widgets import metrics, preset_buttons
from distill_core import InputError
from distill_core.app import metric_rows, picks
from distill_core.app.presets import EXPLORER_KINDS, FIT_TO_SLIDERS
from distill_core.app.viz import kl_contributions
from distill_core.kd.explore import TEMPERATURES, readouts, soft_label_view

CHART_HEIGHT = 340  # px: with the controls above it, one projector screen (1280 × 720)
DIRECTIONS = {"forward_kl": "forward KL(teacher‖student)",
              "reverse_kl": "reverse KL(student‖teacher)"}

st.title("Soft labels and temperature")
use_shared_state({"prompt": "prompt", "temperature": "temperature", "alpha": "alpha",
                  "loss": "kl_direction"},  # a link's values, fitted to these widgets
                 {**FIT_TO_SLIDERS, "loss": lambda k: k if k in EXPLORER_KINDS else None})
for key, default in (("temperature", 1.0), ("alpha", 0.5)):
    st.session_state.setdefault(key, default)
t_spec, s_spec = chosen_pair()
if not fetched(t_spec):  # a pretrained teacher not on this machine yet
    st.stop()
row = st.columns([1, 1, 1.6] if not presenting() else [0.8, 2])  # [student,] example, prompt
if not presenting():
    trained = picks.students_to_pick(t_spec)  # the user's, then the reference run's
    s_label = row[0].selectbox("Student", [f"{s_spec} (before distillation)", *trained],
                               key="student_choice")
    s_spec = trained.get(s_label, s_spec)
prompt = prompt_box(t_spec, row[-2:])
presets_row = st.container()
controls, right = st.columns([1, 2.4], gap="medium")  # the sliders beside the chart they move
temperature = controls.select_slider("Temperature T", TEMPERATURES, key="temperature",
                                     format_func=lambda t: f"{t:g}")
alpha = controls.slider("α: weight of the teacher's soft labels", 0.0, 1.0, step=0.05,
                        key="alpha")
direction = controls.radio("Divergence", list(DIRECTIONS), key="kl_direction", format_func=lambda
                           k: DIRECTIONS[k].split("(")[0] if presenting() else DIRECTIONS[k])
with presets_row:
    preset_buttons("soft_labels", where=controls)  # what to watch: under the sliders
keep_in_url(teacher=t_spec, student=chosen_pair()[1], prompt=prompt, temperature=temperature,
            alpha=alpha, loss=direction)
with right:  # the chart first, then how to draw it
    chart_box = st.container()
    shown = view_choice(t_spec)

try:
    t_logits, s_logits = pair_logits(t_spec, s_spec, prompt)
    tok = teacher(t_spec)[1]
except InputError as err:
    st.error(str(err))
    st.stop()

view = soft_label_view(t_logits, s_logits, tok, temperature)
r = readouts(t_logits, s_logits, temperature=temperature, alpha=alpha, kind=direction,
             tokenizer=tok)
with chart_box:
    distribution_chart(shown, view, t_logits, s_logits, temperature, CHART_HEIGHT)
if note := picks.student_note(s_spec):  # an untrained built-in, or the reference's student
    right.caption(note)

metrics(metric_rows.explorer(r, with_loss=not presenting()), columns=4)  # loss: not projected
st.caption("The hard label is the same at every T (dividing logits by T keeps their order); "
           "only the soft label spreads out. D is the chosen divergence at T, CE the student's "
           "cross-entropy on the hard label; T² keeps the KD gradient about the same size as T "
           "changes.")

st.markdown(
    "**Forward KL** averages over the *teacher's* probabilities: it punishes the student for "
    "missing any token the teacher likes, so the student spreads out to cover every mode. "
    "**Reverse KL** averages over the *student's*: it punishes putting mass where the teacher "
    "has little, so the student may settle on one likely mode and ignore the rest.")
st.plotly_chart(kl_contributions(view, direction), key="contributions")
