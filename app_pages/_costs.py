"""What one training step of the chosen pair costs: memory (estimated) and time (measured), as
the Pair page shows them. This file is not a page."""

import streamlit as st

from app_pages._models import student, teacher
from distill_core.config import DistillConfig
from distill_core.models.estimate import time_per_step, training_memory_mb


@st.cache_data(show_spinner="Timing a few training steps…", max_entries=16)
def seconds_per_step(t_spec: str, s_spec: str, batch_size: int, seq_len: int) -> float:
    return time_per_step(teacher(t_spec)[0], student(s_spec, t_spec),
                         scale_to=(batch_size, seq_len))


def step_costs(t_spec: str, s_spec: str, facts: dict, vocab: int) -> None:
    """Memory and time of one step at the run's default batch; `facts` are
    {"Teacher": …, "Student": …} from estimate.model_facts."""
    config = DistillConfig()  # the batch a run uses unless told otherwise
    s_facts = facts["Student"]
    memory = training_memory_mb(facts["Teacher"]["parameters"], s_facts["parameters"],
                                config.batch_size, config.seq_len, vocab,
                                s_facts["layers"], s_facts["width"], n_head=s_facts["heads"])
    seconds = seconds_per_step(t_spec, s_spec, config.batch_size, config.seq_len)
    st.markdown(f"#### One training step: {config.batch_size} × {config.seq_len} tokens, fp32")
    mem_col, time_col = st.columns(2)
    mem_col.metric("Training memory (estimate)", f"{memory['total']:,.0f} MB")
    mem_col.caption("teacher weights {teacher_weights:,.1f} MB + student weights, grads and 2 "
                    "AdamW moments {student_states:,.1f} MB + activations {activations:,.1f} MB "
                    "+ both models' logits {logits:,.1f} MB; framework overhead on top."
                    .format(**memory))
    time_col.metric("Time per step", f"{seconds:.2f} s")
    time_col.caption(f"Measured on this machine with a quick timing: teacher forward + student "
                     f"forward and backward on 4 × 64 tokens, scaled to {config.batch_size} × "
                     f"{config.seq_len}. About {seconds * config.steps / 60:.1f} min for "
                     f"{config.steps} steps.")
