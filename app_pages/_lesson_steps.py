"""The live widget beside each step of the Lesson page (app_pages/lesson.py): `panel(n, step)`
draws step n's. Words and numbers come from distill_core.app.lesson and metric_rows."""

import secrets

import pandas as pd
import streamlit as st

from app_pages._models import student, teacher
from app_pages._navigation import link
from app_pages._session import server_limits
from app_pages._widgets import metrics, preset_buttons
from distill_core.app import lesson, metric_rows, viz
from distill_core.kd.explore import TEMPERATURES, readouts, soft_label_view
from distill_core.models import prompt_logits
from distill_core.training import sweep

TEACHER, EARLY = lesson.IMPERFECT_TEACHERS


@st.cache_data(show_spinner="Running the model on the prompt…", max_entries=32)
def logits(spec: str, prompt: str):
    return prompt_logits(*teacher(spec), prompt)


@st.cache_data(show_spinner="Measuring both teachers on validation stories…")
def teachers_measured() -> dict:
    return lesson.teacher_against_early(teacher(TEACHER)[0], teacher(EARLY)[0],
                                        lesson.validation_blocks(teacher(TEACHER)[1]))


def models_panel() -> None:  # step 1: the capacity gap
    spec = st.selectbox("Student", lesson.LESSON_STUDENTS, key="lesson_student")
    metrics(metric_rows.model_sizes(lesson.capacity(teacher(TEACHER)[0], student(spec, TEACHER))))


def labels_panel(n: int) -> None:  # steps 2 and 3: hard and soft labels, then temperature
    prompt = st.text_input("Prompt", key="lesson_prompt")
    t = 1.0 if n == 2 else st.select_slider("Temperature T", TEMPERATURES,
                                            key="lesson_temperature")
    view = lesson.teacher_view(logits(TEACHER, prompt), teacher(TEACHER)[1], t)
    metrics(metric_rows.hard_and_soft(view))
    st.plotly_chart(viz.hard_vs_soft_bars(view), key="hard_soft")
    if n == 3:
        st.plotly_chart(viz.entropy_curve(TEMPERATURES, lesson.entropies(
            logits(TEACHER, prompt)), t), key="entropy")


def tuning_panel() -> None:  # step 4: α and T in the loss, and the newest sweep
    preset_buttons("lesson")
    t = st.select_slider("Temperature T", TEMPERATURES, key="lesson_temperature")
    alpha = st.slider("α", 0.0, 1.0, step=0.05, key="lesson_alpha")
    prompt, tok = st.session_state["lesson_prompt"], teacher(TEACHER)[1]
    s_logits = prompt_logits(student(st.session_state["lesson_student"], TEACHER), tok, prompt)
    metrics(metric_rows.loss_parts(readouts(logits(TEACHER, prompt), s_logits, temperature=t,
                                            alpha=alpha)))
    st.caption("for the untrained student on the lesson prompt's next token")
    for sweep_id in sweep.list_sweeps()[:1]:  # the newest sweep, as far as it got
        st.plotly_chart(viz.sweep_heatmap(sweep.cells(sweep_id)), key="sweep")
    link("sweep", "Run a small α × T sweep")


def limits_panel(step: lesson.Step) -> None:  # step 5: an imperfect teacher, and the trade-off
    state, m = st.session_state, teachers_measured()
    metrics(metric_rows.two_teachers(m))
    st.caption(f"Measured now on {m['tokens']:,} validation tokens of tinytales.")
    prompt = state["lesson_prompt"]
    st.plotly_chart(viz.soft_label_bars(soft_label_view(
        logits(TEACHER, prompt), logits(EARLY, prompt), teacher(TEACHER)[1], 1.0),
        names=("trained teacher", "early teacher")), key="early_bars")
    if st.button("Try this: " + step.try_this, key="try_5", type="primary"):
        state["lesson_runs"] = lesson.start_imperfect_teacher_runs(  # the queue's limits apply
            state["lesson_student"], state.setdefault("session_id", secrets.token_hex(8)),
            server_limits())
    if rows := lesson.imperfect_teacher_results(state["lesson_runs"]):
        st.dataframe(pd.DataFrame(rows).set_index("run"))
        link("compare", "Compare them", query_params={"runs": ",".join(r["run"] for r in rows)})
    if rows := lesson.finished_runs():
        st.markdown("**The trade-off in finished runs**: measured at the end of each run")
        st.dataframe(pd.DataFrame(rows).set_index("id"))


def panel(n: int, step: lesson.Step) -> None:
    """Step n's live widget."""
    if n == 1:
        models_panel()
    elif n in (2, 3):
        labels_panel(n)
    elif n == 4:
        tuning_panel()
    else:
        limits_panel(step)
