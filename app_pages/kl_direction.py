"""KL direction: a one-peaked student fitted to a two-peaked target by forward and by reverse KL,
side by side. The fits are computed by distill_core.kd.toy_kl with the training loss code."""

import streamlit as st

from app_pages._session import presenting
from distill_core import InputError
from distill_core.app import viz
from distill_core.kd import toy_kl


@st.cache_data(show_spinner="Fitting the student both ways…", max_entries=64)
def fits(separation: float, left_weight: float, start: float) -> dict:
    return toy_kl.demo(separation, left_weight, start)


st.title("Forward or reverse KL: cover both peaks, or pick one")
st.markdown(
    "The target has two peaks; the student can only make one (a bell curve with a centre and a "
    "width). Both are fitted by gradient descent from the same start, one on each direction of "
    "the KL divergence, with the same loss code a distillation run uses.")
cols = st.columns(3)
separation = cols[0].slider("Distance between the peaks", 1.0, 7.0, 5.0, 0.5, key="separation")
left = cols[1].slider("Weight of the left peak", 0.1, 0.9, 0.6, 0.05, key="left_weight")
start = 1.0 if presenting() else cols[2].slider("Student's starting centre", -3.0, 3.0, 1.0,
                                                  0.25, key="start_mean")
try:
    demo = fits(separation, left, start)
except InputError as err:
    st.error(str(err))
    st.stop()

fwd, rev = demo["forward"], demo["reverse"]
for col, kind, fit in zip(st.columns(2), ("forward_kl", "reverse_kl"), (fwd, rev)):
    col.plotly_chart(viz.toy_kl_fit(demo, kind), key=kind)
    sub = col.columns(3)
    sub[0].metric("Centre", f"{fit['mean']:.2f}")
    sub[1].metric("Width", f"{fit['std']:.2f}")
    sub[2].metric("Mass in the valley", f"{100 * fit['valley_mass']:.1f} %",
                  help="share of the student's probability between the peaks (|x| < 1)")

st.markdown(toy_kl.explain(demo))
st.caption(f"Both fits: {len(fwd['history']) * 10} Adam steps on the centre and log-width, "
           f"{len(demo['x'])} grid points, float64. Forward fit: KL(target‖student) = "
           f"{fwd['forward_kl']:.3f} nats, KL(student‖target) = {fwd['reverse_kl']:.3f}; reverse "
           f"fit: {rev['forward_kl']:.3f} and {rev['reverse_kl']:.3f} nats.")
