"""Checkpoint scrubber: the student's next-token bars on fixed probe prompts at each evaluation
of a run (saved by distill_core.training.probes), against the teacher's. ?run=ID opens that run."""

import streamlit as st

from app_pages._navigation import link
from app_pages._reference import reference_note
from distill_core import InputError
from distill_core.app import picks, reference, report, viz
from distill_core.store.runs import load_run
from distill_core.training import probes

st.title("Checkpoint scrubber")
st.caption("At every evaluation a run saves the student's next-token probabilities on a few "
           "fixed prompts. Slide through the steps to watch them move towards the teacher's.")
rows, root = picks.probed_runs(), None  # root: the user's runs, or the reference's
if not rows and (ref := reference.default_run()) and (rows := picks.probed_runs(ref.root)):
    root = ref.root
    reference_note(reference.default_entry(), before="No run of yours has recorded probes yet. ")
if not rows:
    st.info("No run has recorded probes yet. Runs started from now on record them at every "
            "evaluation: start one on the Distill page.")
    link("distill", "Go to Distill")
    st.stop()
ids = [r["id"] for r in rows]
if (asked := st.query_params.get("run")) and asked not in ids:
    st.error(f"run {asked!r} has no recorded probes (or does not exist); pick one below")
elif asked and "scrub_run" not in st.session_state:
    st.session_state["scrub_run"] = asked
run_id = st.selectbox("Run", ids, key="scrub_run",
                      format_func=lambda i: f"{i} ({dict(zip(ids, rows))[i]['state']})")
st.query_params["run"] = run_id  # a reload or a shared link opens this run


def scrubber(run_id: str) -> None:  # reads the run directory only; reruns while the run trains
    try:
        lines = probes.load(load_run(run_id, root))
    except InputError as err:
        st.error(str(err))
        return
    if not lines:
        st.info("This run has not recorded a probe yet.")
        return
    steps = [line["step"] for line in lines]
    if st.session_state.get("scrub_step") not in steps:  # first look, or another run
        st.session_state["scrub_step"] = steps[-1]
    step = steps[-1] if len(steps) == 1 else st.select_slider("Training step", steps,
                                                              key="scrub_step")
    line = lines[steps.index(step)]
    prompt = st.radio("Probe prompt", list(line["probes"]), horizontal=True, key="scrub_prompt")
    left, right = st.columns([3, 2])
    left.plotly_chart(viz.probe_bars(line, prompt), key="probe_bars")
    right.plotly_chart(viz.probe_kl_curves(lines), key="probe_kl")
    right.metric(f"KL(teacher‖student) at step {step}",
                 f"{line['probes'][prompt]['kl']:.3f} nats",
                 delta=f"{line['probes'][prompt]['kl'] - lines[0]['probes'][prompt]['kl']:+.3f} "
                       f"since step {steps[0]}", delta_color="inverse")


active = load_run(run_id, root).status().get("state") in report.ACTIVE_STATES
st.fragment(scrubber, run_every=2 if active else None)(run_id)
