"""Lesson: distillation in five steps, each idea beside the live widget that shows it, with a
"try this" button that sets the widget. Words and numbers come from distill_core.app.lesson."""

import secrets

import pandas as pd
import streamlit as st

from distill_core import InputError
from distill_core.store import jobs
from distill_core.app import lesson, viz
from distill_core.models import prompt_logits
from distill_core.kd.explore import TEMPERATURES, readouts, soft_label_view
from distill_core.app.presets import nearest_temperature
from distill_core.store.runs import compare, list_runs
from distill_core.training.loop import load_blocks
from pages._shared import (keep_in_url, preset_buttons, student, teacher, use_app_navigation,
                           use_shared_state)

try:
    from distill_core.training import sweep
except ImportError:  # the sweep arrives with the speed work
    sweep = None

use_app_navigation()
TEACHER, EARLY, KEYS = "builtin:teacher", "builtin:teacher-early", (
    "lesson_student", "lesson_prompt", "lesson_temperature", "lesson_alpha", "lesson_runs")


@st.cache_data(show_spinner="Running the model on the prompt…", max_entries=32)
def logits(spec: str, prompt: str):
    return prompt_logits(*teacher(spec), prompt)


@st.cache_data(show_spinner="Measuring both teachers on validation stories…")
def teachers_measured(n_blocks: int = 16) -> dict:
    blocks = load_blocks(lesson.imperfect_teacher_configs()[0].replace(train_docs=100),
                         teacher(TEACHER)[1])[1][:n_blocks]
    return lesson.teacher_against_early(teacher(TEACHER)[0], teacher(EARLY)[0], blocks)


def try_this(settings: dict) -> None:
    st.session_state.update(settings)


st.title("Lesson: distillation in five steps")
use_shared_state({"lesson": "lesson_step", "prompt": "lesson_prompt",
                  "temperature": "lesson_temperature", "alpha": "lesson_alpha"},
                 {"temperature": nearest_temperature, "alpha": lambda a: round(a * 20) / 20,
                  "lesson": lambda n: min(n, len(lesson.STEPS))})
for key, default in zip(KEYS, ("builtin:half", lesson.LESSON_PROMPTS[0], 1.0, 0.5, [])):
    st.session_state[key] = st.session_state.get(key, default)  # kept while other steps show
n = st.radio("Step", range(1, len(lesson.STEPS) + 1), horizontal=True, key="lesson_step",
             format_func=lambda i: f"{i}. {lesson.STEPS[i - 1].title}")
step = lesson.STEPS[n - 1]
keep_in_url(lesson=n, prompt=st.session_state["lesson_prompt"],
            temperature=st.session_state["lesson_temperature"],
            alpha=st.session_state["lesson_alpha"])
words, live = st.columns([2, 3], gap="large")
words.subheader(step.title)
words.markdown(step.text)
if step.settings:
    words.button(f"Try this: {step.try_this}", key=f"try_{n}", on_click=try_this,
                 args=(step.settings,), type="primary")
if n < len(lesson.STEPS):
    words.button("Next step →", key="next", on_click=try_this, args=({"lesson_step": n + 1},))

try:
    t_model, tok = teacher(TEACHER)
    with live:
        if n == 1:
            spec = st.selectbox("Student", lesson.LESSON_STUDENTS, key="lesson_student")
            cap = lesson.capacity(t_model, student(spec, TEACHER))
            for col, role in zip(st.columns(2), ("teacher", "student")):
                col.metric(f"{role.capitalize()} parameters", f"{cap[role]['parameters']:,}")
                col.caption(f"{cap[role]['layers']} layers, width {cap[role]['width']}, "
                            f"{cap[role]['size_mb']:.1f} MB in fp32")
            st.metric("Capacity gap", f"{cap['times_smaller']:.1f}× fewer parameters")
        elif n in (2, 3):
            prompt = st.text_input("Prompt", key="lesson_prompt")
            t = 1.0 if n == 2 else st.select_slider("Temperature T", TEMPERATURES,
                                                    key="lesson_temperature")
            view = lesson.teacher_view(logits(TEACHER, prompt), tok, t)
            cols = st.columns(3)
            cols[0].metric("Hard label", view["tokens"][0])
            cols[1].metric("Soft label on it", f"{view['teacher'][0]:.3f}")
            cols[2].metric("Effective choices", f"{view['choices']:.1f}",
                           help=f"e^entropy; entropy {view['entropy']:.3f} nats")
            st.plotly_chart(viz.hard_vs_soft_bars(view), key="hard_soft")
            if n == 3:
                st.plotly_chart(viz.entropy_curve(TEMPERATURES, lesson.entropies(
                    logits(TEACHER, prompt)), t), key="entropy")
        elif n == 4:
            preset_buttons("lesson")
            t = st.select_slider("Temperature T", TEMPERATURES, key="lesson_temperature")
            alpha = st.slider("α", 0.0, 1.0, step=0.05, key="lesson_alpha")
            s_logits = prompt_logits(student(st.session_state["lesson_student"], TEACHER),
                                         tok, st.session_state["lesson_prompt"])
            r = readouts(logits(TEACHER, st.session_state["lesson_prompt"]), s_logits,
                         temperature=t, alpha=alpha)
            cols = st.columns(3)
            cols[0].metric("KD part α·T²·D", f"{r['kd_term']:.3f} nats")
            cols[1].metric("CE part (1−α)·CE", f"{r['ce_term']:.3f} nats")
            cols[2].metric("Total", f"{r['total']:.3f} nats")
            st.caption("for the untrained student on the lesson prompt's next token")
            if sweep is not None:
                for sweep_id in sweep.list_sweeps()[:1]:  # the newest sweep, as far as it got
                    st.plotly_chart(viz.sweep_heatmap(sweep.cells(sweep_id)), key="sweep")
                st.page_link("pages/sweep.py", label="Run a small α × T sweep", icon="🗺️")
        else:
            m = teachers_measured()
            cols = st.columns(4)
            cols[0].metric("Teacher perplexity", f"{m['teacher_ppl']:.3f}")
            cols[1].metric("Early teacher perplexity", f"{m['early_ppl']:.3f}")
            cols[2].metric("Same top token", f"{100 * m['agreement']:.1f} %")
            cols[3].metric("KL(teacher‖early)", f"{m['kl']:.3f} nats")
            st.caption(f"Measured now on {m['tokens']:,} validation tokens of tinytales.")
            prompt = st.session_state["lesson_prompt"]
            st.plotly_chart(viz.soft_label_bars(soft_label_view(
                logits(TEACHER, prompt), logits(EARLY, prompt), tok, 1.0),
                names=("trained teacher", "early teacher")), key="early_bars")
            if st.button("Try this: " + step.try_this, key="try_5", type="primary"):
                session = st.session_state.setdefault("session_id", secrets.token_hex(8))
                runs = [jobs.launch(c, session=session) for c in  # the classroom queue's limits
                        lesson.imperfect_teacher_configs(st.session_state["lesson_student"])]
                st.session_state["lesson_runs"] = [run.id for run in runs]
            if rows := lesson.imperfect_teacher_results(st.session_state["lesson_runs"]):
                st.dataframe(pd.DataFrame(rows).set_index("run"))
                st.page_link("pages/compare.py", label="Compare them", icon="📊",
                             query_params={"runs": ",".join(r["run"] for r in rows)})
            done = [r["id"] for r in list_runs() if r["state"] == "done"]
            if done:
                st.markdown("**The trade-off in finished runs**: measured at the end of each run")
                table = pd.DataFrame(compare(done[:6])).set_index("id")
                st.dataframe(table[["student", "retention_pct", "speedup", "size_ratio"]])
except InputError as err:
    st.error(str(err))
