"""The numbers the pages show as st.metric readouts, formatted once here: each function turns a
result (a lesson measurement, `explore.readouts`, a metrics record) into Metric rows, in the
order the page lays them out.

    for m in metric_rows.loss_parts(readouts(...)):   # Metric("KD part α·T²·D", "0.412 nats")
        st.metric(m.label, m.value, help=m.help)

Losses and divergences are in nats. No Streamlit here.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Metric", "cross_tokenizer", "explorer", "hard_and_soft", "loss_parts", "model_facts", "model_sizes",
           "training_loss", "two_teachers"]


class Metric(NamedTuple):
    """One readout: st.metric(label, value, help=help), with an optional caption below it."""
    label: str
    value: str
    help: str | None = None
    caption: str | None = None


def model_sizes(cap: dict) -> list[Metric]:
    """Both models' parameters (their shape and fp32 size below) and the gap between them
    (`lesson.capacity`)."""
    return [*(Metric(f"{role.capitalize()} parameters", f"{cap[role]['parameters']:,}",
                     caption=f"{cap[role]['layers']} layers, width {cap[role]['width']}, "
                             f"{cap[role]['size_mb']:.1f} MB in fp32")
              for role in ("teacher", "student")),
            Metric("Capacity gap", f"{cap['times_smaller']:.1f}× fewer parameters")]


def cross_tokenizer(facts: dict) -> list[Metric]:
    """Two different tokenizers (`models.tokenizers.cross_tokenizer_facts`): the tokens both
    spell alike, the sample's characters both cut alike, and the loss a cross-tokenizer run
    would use."""
    return [Metric("Tokens spelled alike", f"{facts['shared_tokens']:,}",
                   caption=f"{facts['shared_share']:.0%} of the smaller vocabulary"),
            Metric("Characters cut alike", f"{facts['aligned_share']:.0%}",
                   caption=f"{facts['aligned_chars']:,} of a {facts['sample_chars']:,}-character "
                           "sample in one token on each side"),
            Metric("Cross-tokenizer loss", facts["loss"],
                   help="aligned: KL over the tokens spelled alike where both cut one token, "
                        "ULD (sorted probabilities) elsewhere; uld: ULD everywhere",
                   caption="`distill align --teacher … --student …` shows both cuts")]


def model_facts(facts: dict[str, dict]) -> list[Metric]:
    """Each model's parameters, with its architecture, shape and size on disk below
    ({role: estimate.model_facts(...)}, e.g. {"Teacher": …, "Student": …})."""
    rows = []
    for role, f in facts.items():
        disk = (f"{f['disk_mb']:.1f} MB on disk (safetensors)" if f["disk_mb"] is not None
                else f"not saved yet ({f['size_mb']:.1f} MB in fp32)")
        rows.append(Metric(f"{role} parameters", f"{f['parameters']:,}", caption=(
            f"{f['architecture']}: {f['layers']} layers, width {f['width']}, {f['heads']} "
            f"heads; {disk}")))
    return rows


def hard_and_soft(view: dict) -> list[Metric]:
    """The hard label, the teacher's soft label on it, and its effective number of choices
    (`lesson.teacher_view`)."""
    return [Metric("Hard label", view["tokens"][0]),
            Metric("Soft label on it", f"{view['teacher'][0]:.3f}"),
            Metric("Effective choices", f"{view['choices']:.1f}",
                   f"e^entropy; entropy {view['entropy']:.3f} nats")]


def loss_parts(r: dict) -> list[Metric]:
    """The two parts of the distillation loss and their sum (`explore.readouts`)."""
    return [Metric("KD part α·T²·D", f"{r['kd_term']:.3f} nats"),
            Metric("CE part (1−α)·CE", f"{r['ce_term']:.3f} nats"),
            Metric("Total", f"{r['total']:.3f} nats")]


def two_teachers(m: dict) -> list[Metric]:
    """The trained teacher against its early snapshot (`lesson.teacher_against_early`)."""
    return [Metric("Teacher perplexity", f"{m['teacher_ppl']:.3f}"),
            Metric("Early teacher perplexity", f"{m['early_ppl']:.3f}"),
            Metric("Same top token", f"{100 * m['agreement']:.1f} %"),
            Metric("KL(teacher‖early)", f"{m['kl']:.3f} nats")]


def explorer(r: dict, with_loss: bool = True) -> list[Metric]:
    """The Soft labels page's readouts (`explore.readouts` with a tokenizer), four to a row:
    both entropies, the hard and soft label, both KL directions and, `with_loss`, the loss."""
    rows = [
        Metric("Teacher entropy", f"{r['teacher_entropy']:.3f} nats"),
        Metric("Teacher: effective choices", f"{r['teacher_choices']:,.1f}", "exp(entropy)"),
        Metric("Student entropy", f"{r['student_entropy']:.3f} nats"),
        Metric("Student: effective choices", f"{r['student_choices']:,.1f}"),
        Metric("Hard label", r["hard_label"], "the teacher's top token, with probability 1: "
               "what one-hot training uses. It is the same at every T."),
        Metric("Soft label on it", f"{r['hard_label_teacher_prob']:.3f}",
               "the teacher's probability for that token at T; the rest is spread out"),
        Metric("KL(teacher‖student)", f"{r['kl_teacher_student']:.4f} nats"),
        Metric("KL(student‖teacher)", f"{r['kl_student_teacher']:.4f} nats")]
    if with_loss:
        rows += [Metric("KD part α·T²·D", f"{r['kd_term']:.4f} nats"),
                 Metric("CE part (1−α)·CE", f"{r['ce_term']:.4f} nats"),
                 Metric("Loss total", f"{r['total']:.4f} nats")]
    return rows


TRAINING_LOSS = {"loss": "total loss", "kd": "KD", "ce": "CE", "hidden": "hidden states",
                 "baseline_loss": "baseline loss"}


def training_loss(record: dict) -> list[Metric]:
    """Each loss part a metrics.jsonl record holds (the latest, say), in nats per token."""
    return [Metric(f"{label} (nats/token)", f"{record[key]:.3f}")
            for key, label in TRAINING_LOSS.items() if record.get(key) is not None]
