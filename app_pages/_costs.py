"""What one training step of the chosen pair costs: memory (estimated) and time, as the Pair page
shows them. The time comes at once from this machine's record (training.step_time) when there
is one; otherwise a button times a few steps, and the result is recorded for next time. This
file is not a page."""

import streamlit as st

from app_pages._models import student, teacher
from distill_core.config import DistillConfig
from distill_core.models.estimate import training_memory_mb
from distill_core.training import step_time

SOURCES = {"timing": "a quick timing (teacher forward + student forward and backward on 4 × 64 "
                     "tokens, scaled to {batch})",
           "precision": "precision=auto's timing of a run's batch in fp32 (scaled to {batch})"}


def step_time_metric(t_spec: str, s_spec: str, config: DistillConfig) -> None:
    """'Time per step' from this machine's record, or a button that measures it (and records
    it); a recorded time offers to measure again."""
    models = teacher(t_spec)[0], student(s_spec, t_spec)
    shape = config.batch_size, config.seq_len
    record = step_time.recorded_step(*models, *shape, micro_batch=config.micro_batch)
    again = record is not None and record["source"] == "timing"
    if st.button("Measure again" if again else "Time a few training steps", key="time_steps",
                 type="secondary" if record else "primary",
                 help="Runs 3 training steps of this pair here (a few seconds for the built-in "
                      "pair, longer for a real model) and remembers the result."):
        with st.spinner("Timing a few training steps…"):
            record = step_time.measure_step(*models, *shape)
    if record is None:
        st.caption("No timing of this pair on this machine yet: the button times it.")
        return
    seconds = record["seconds"]
    st.metric("Time per step", f"{seconds:.2f} s")
    how = SOURCES[record["source"]].format(batch=f"{shape[0]} × {shape[1]}")
    st.caption(f"Measured on this machine with {how}, on {record.get('measured_at') or '?'} "
               f"({record.get('measured_on') or 'this CPU'}). About "
               f"{seconds * config.steps / 60:.1f} min for {config.steps} steps.")


def step_costs(t_spec: str, s_spec: str, facts: dict, vocab: int) -> None:
    """Memory and time of one step at the run's default batch; `facts` are
    {"Teacher": …, "Student": …} from estimate.model_facts."""
    config = DistillConfig()  # the batch a run uses unless told otherwise
    s_facts = facts["Student"]
    memory = training_memory_mb(facts["Teacher"]["parameters"], s_facts["parameters"],
                                config.batch_size, config.seq_len, vocab,
                                s_facts["layers"], s_facts["width"], n_head=s_facts["heads"])
    st.markdown(f"#### One training step: {config.batch_size} × {config.seq_len} tokens, fp32")
    mem_col, time_col = st.columns(2)
    mem_col.metric("Training memory (estimate)", f"{memory['total']:,.0f} MB")
    mem_col.caption("teacher weights {teacher_weights:,.1f} MB + student weights, grads and 2 "
                    "AdamW moments {student_states:,.1f} MB + activations {activations:,.1f} MB "
                    "+ both models' logits {logits:,.1f} MB; framework overhead on top."
                    .format(**memory))
    with time_col:
        step_time_metric(t_spec, s_spec, config)
