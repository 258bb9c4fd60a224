"""Disagreement: where along a text the student's next-token guesses part from the teacher's.
Every token is coloured by how much the two disagree when predicting it; picking a token shows
both distributions there. A run shows its student before and after distillation side by side."""

import streamlit as st

from app_pages._models import chosen_pair, run_students, student, teacher
from distill_core import InputError
from distill_core.app import disagreement as dis
from distill_core.app import picks
from distill_core.app.viz import soft_label_bars
from distill_core.kd.explore import TEMPERATURES, visible
from distill_core.store.runs import load_run

PAIR = "the chosen pair, student untrained"
CHART_HEIGHT = 300  # px: with the token and the start of the text, one projector screen
passages = st.cache_data(show_spinner="Reading validation passages…",
                         max_entries=8)(dis.validation_passages)


@st.cache_resource(show_spinner="Running the model over the text…", max_entries=48)
def logits(model_key: str, text: str, limit: int, vocab: int, _model, _tokenizer):
    return dis.text_logits(_model, dis.read_text(_tokenizer, text, limit)["ids"], vocab)


st.title("Disagreement")
controls, shown = st.columns([1, 2.4], gap="medium")  # the choices beside what they show
token_box = controls.container()  # the token the bars are for: first, beside them
runs = picks.finished_runs()  # {id: root}: the user's, then the reference run (read only)
source = controls.selectbox("Models", [PAIR, *runs], key="dis_source", format_func=lambda i:
                            picks.run_label(i, runs.get(i)))
try:
    if source == PAIR:
        t_spec, s_spec = chosen_pair()
        dataset, seed, students = "tinytales", 0, {f"{s_spec}, untrained": student(s_spec, t_spec)}
    else:
        config = load_run(source, runs[source]).config()
        t_spec, dataset, seed = config["teacher"], config["dataset"], config.get("seed", 0)
        students = run_students(source, str(runs[source]), t_spec)
        controls.caption(picks.run_note(runs[source]) or "")  # the reference's label
    t_model, tok = teacher(t_spec)
    own = controls.radio("Text", ["a validation passage", "your own"], key="dis_how")
    text = (controls.text_area("Text", "Once upon a time there was a little fox.", key="dis_text")
            if own == "your own" else controls.selectbox(
                "Passage", passages(dataset, seed), key="dis_passage", format_func=lambda p: p[:90]))
    temperature = controls.select_slider("Temperature T", TEMPERATURES, value=1.0, key="dis_t")
    measure = controls.radio("Colour by", list(dis.MEASURE_NAMES),
                             format_func=dis.MEASURE_NAMES.get, key="dis_measure")
    if len(students) > 1 and not controls.toggle("Before and after side by side", True,
                                                 key="dis_both"):
        students = dict(list(students.items())[1:])  # after distillation only
    loaded = [t_model, *students.values()]
    limit, vocab = dis.text_limit(*loaded), dis.vocab_of(tok, *loaded)
    read = dis.read_text(tok, text, limit)
    t_logits = logits(f"teacher {t_spec}", text, limit, vocab, t_model, tok)
    views = {label: dis.view(t_logits, logits(f"{source} {label}", text, limit, vocab, m, tok),
                             read["ids"], temperature) for label, m in students.items()}
except InputError as err:
    st.error(str(err))
    st.stop()

last = list(views.values())[-1][measure]
position = token_box.selectbox("Token", range(1, len(read["ids"])), index=int(last.argmax()),
                               key="dis_token", format_func=lambda i: f"{i}: "
                               f"{visible(read['tokens'][i])} ({float(last[i - 1]):+.2f})")
scale = max(float(v[measure].abs().max()) for v in views.values())
for chart, column, (label, v) in zip(shown.columns(len(views)), shown.columns(len(views)),
                                     views.items()):  # the chosen token's bars, then the text
    chart.plotly_chart(soft_label_bars(dis.bars_view(t_logits, v, position, tok),
                                       title=f"Before “{visible(read['tokens'][position])}”",
                                       names=("teacher", label)), key=f"dis_bars_{label}",
                       height=CHART_HEIGHT)
    column.markdown(f"**{label}**: mean {dis.MEASURE_NAMES[measure].split(':')[0]} "
                    f"{float(v[measure].mean()):{'+' if measure == 'ce_diff' else ''}.3f} nats")
    with column:
        st.html(dis.token_spans(read["tokens"], v[measure], scale, signed=measure == "ce_diff"))
shown.caption(dis.colour_caption(scale, measure, len(read["ids"]) if read["cut"] else None))
