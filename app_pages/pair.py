"""Pair: choose a teacher and a student, and see what distilling one into the other costs."""

import streamlit as st

from app_pages._costs import step_costs
from app_pages._models import chosen_pair, fetched, student, teacher, tokenizer
from app_pages._widgets import metrics
from distill_core import InputError
from distill_core.app import metric_rows
from distill_core.app.metric_rows import Metric
from distill_core.models import BUILTIN_DIRS, PAIRS, PRESETS, check_compatibility
from distill_core.models.estimate import model_facts
from distill_core.models.memory import at_scale, size_text

st.title("Choose a teacher and a student")
current = chosen_pair()
builtins, presets = [f"builtin:{n}" for n in BUILTIN_DIRS], [f"builtin:{n}" for n in PRESETS]
registry = [(p.teacher, p.student) for p in PAIRS.values()]
is_builtin = current[0] in builtins and current[1] in presets
source = st.radio("Pick from", ["built-in models", "registry pairs", "any model"],
                  index=0 if is_builtin else 1 if current in registry else 2,
                  horizontal=True, key="pair_source")
left, right = st.columns(2)
if source == "built-in models":
    t_spec = left.selectbox("Teacher", builtins, key="builtin_teacher",
                            index=builtins.index(current[0]) if is_builtin else 0)
    s_spec = right.selectbox("Student preset (made from the teacher)", presets,
                             index=presets.index(current[1] if is_builtin else "builtin:half"),
                             key="builtin_student")
elif source == "registry pairs":
    name = left.selectbox("Pair", list(PAIRS), key="registry_pair",
                          index=registry.index(current) if current in registry else 0)
    t_spec, s_spec = PAIRS[name].teacher, PAIRS[name].student
    right.caption(PAIRS[name].note)
else:
    t_spec = left.text_input("Teacher: builtin:…, a Hugging Face id or a local folder",
                             value=current[0], key="typed_teacher")
    s_spec = right.text_input("Student: a preset, a Hugging Face id or a local folder",
                              value=current[1], key="typed_student")

if not fetched(t_spec, s_spec):  # a pretrained model not on this machine yet
    st.stop()
try:
    t_model, t_tok = teacher(t_spec)
    s_model = student(s_spec, t_spec)
    verdict = check_compatibility(t_tok, tokenizer(s_spec, t_spec),
                                  t_model.get_output_embeddings().weight.shape[0],
                                  s_model.get_output_embeddings().weight.shape[0])
except InputError as err:
    st.error(str(err))
    st.stop()
st.session_state["teacher"], st.session_state["student"] = t_spec.strip(), s_spec.strip()
if verdict.ok:
    st.success(f"Tokenizers: {verdict.message}. The other pages now use this pair.")
else:  # two vocabularies: a run trains across them, with the loss shown
    cross, sizes = verdict.details["cross_tokenizer"], verdict.details
    st.info(f"Tokenizers differ ({sizes['teacher_tokens']:,} vs {sizes['student_tokens']:,} "
            f"tokens): a run trains across them with the `{cross['loss']}` loss (the Alignment "
            "page shows both cuts). The other pages now use this pair.")
    metrics(metric_rows.cross_tokenizer(cross))
vocab = verdict.vocab_size or max(verdict.details.get(k, 0)  # logits: the larger vocabulary
                                  for k in ("teacher_tokens", "student_tokens"))

facts = {"Teacher": model_facts(t_spec, t_model), "Student": model_facts(s_spec, s_model)}
metrics(metric_rows.model_facts(facts))
step_costs(t_spec.strip(), s_spec.strip(), facts, vocab)

st.markdown("#### At scale: bf16 on GPUs, as TRL, Axolotl and DistillKit train")
b_col, t_col = st.columns(2)
cost = at_scale(facts["Teacher"]["parameters"], facts["Student"]["parameters"],
                int(b_col.number_input("Batch (sequences)", 1, 4096, 8, key="scale_batch")),
                int(t_col.number_input("Sequence length", 8, 131072, 2048, key="scale_seq")),
                vocab)
metrics([Metric("Teacher + student + AdamW", size_text(cost["fused"]), caption="bf16 teacher; "
                "student bf16 weights and grads, fp32 master and 2 AdamW moments (16 B/param)"),
         Metric("Logits B × T × V (fp32)", size_text(cost["logits"]), caption="teacher's, "
                "student's and its gradient: what Liger's fused losses and Cut Cross-Entropy "
                "never hold"),
         Metric("Total without a fused loss", size_text(cost["total"]),
                caption="activations and workspace on top")])
