"""The temperature explorer's numbers and the Pair page's cost estimates, on the built-in pair."""

import math

import pytest
import torch

from distill_core import models
from distill_core.models import estimate
from distill_core.kd import explore, losses
from distill_core.errors import InputError

PROMPT = "Once upon a time there was a little"


@pytest.fixture(scope="module")
def pair():
    """(teacher, untrained half student, tokenizer): the real built-in pair."""
    teacher, tokenizer = models.load_teacher("builtin:teacher")
    return teacher, models.load_student("builtin:half", teacher), tokenizer


@pytest.fixture(scope="module")
def logits(pair):
    teacher, student, tokenizer = pair
    return (models.prompt_logits(teacher, tokenizer, PROMPT),
            models.prompt_logits(student, tokenizer, PROMPT))


# --- next_token_logits -------------------------------------------------------------------------

def test_logits_are_one_float32_row_over_the_real_vocabulary(pair, logits):
    teacher, student, tokenizer = pair
    t, s = logits
    assert t.shape == s.shape == (len(tokenizer),)
    assert t.dtype == torch.float32 and torch.isfinite(t).all()
    assert not t.requires_grad and not t.is_inference()
    assert student.training, "the student's train mode is restored after the forward pass"


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t "])
def test_empty_prompt_is_refused(pair, prompt):
    teacher, _, tokenizer = pair
    with pytest.raises(InputError, match="the prompt is empty; type a few words"):
        models.prompt_logits(teacher, tokenizer, prompt)


def test_prompt_longer_than_the_context_is_refused_naming_both_numbers(pair):
    teacher, _, tokenizer = pair
    context = models.context_length(teacher.config)
    prompt = "the cat sat. " * context
    n = len(tokenizer(prompt)["input_ids"])
    assert n > context
    with pytest.raises(InputError) as err:
        models.prompt_logits(teacher, tokenizer, prompt)
    assert f"{n} tokens" in str(err.value) and f"at most {context}" in str(err.value)


# --- visible -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, shown", [(" the", "␣the"), ("\n", "↵"), ("\t", "⇥"), ("", "∅"),
                                         ("a b\n\tc", "a␣b↵⇥c"), ("girl", "girl")])
def test_visible_marks_whitespace(text, shown):
    assert explore.visible(text) == shown


# --- soft_label_view ---------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.1, 1.0, 4.0, 20.0])
def test_shown_probabilities_and_everything_else_sum_to_one(pair, logits, temperature):
    view = explore.soft_label_view(*logits, pair[2], temperature, k=10)
    assert len(view["tokens"]) == len(view["ids"]) == len(view["teacher"]) == 10
    assert sum(view["teacher"]) + view["teacher_rest"] == pytest.approx(1.0, abs=1e-5)
    assert sum(view["student"]) + view["student_rest"] == pytest.approx(1.0, abs=1e-5)
    assert view["teacher"] == sorted(view["teacher"], reverse=True)


def test_view_shows_the_teachers_most_likely_tokens_as_visible_text(pair, logits):
    view = explore.soft_label_view(*logits, pair[2], 1.0, k=5)
    p = losses.soften(logits[0], 1.0)
    assert view["ids"] == torch.topk(p, 5).indices.tolist()
    assert view["teacher"] == pytest.approx(p[view["ids"]].tolist())
    assert all(" " not in t for t in view["tokens"])


def test_at_very_high_temperature_the_teacher_is_nearly_uniform(pair, logits):
    view = explore.soft_label_view(*logits, pair[2], 1e4, k=10)
    vocab = view["vocab"]
    assert all(p * vocab == pytest.approx(1.0, abs=0.01) for p in view["teacher"])
    assert view["teacher_rest"] == pytest.approx(1 - 10 / vocab, abs=1e-4)


def test_kl_terms_sum_to_the_divergence(pair, logits):
    t, s = logits
    view = explore.soft_label_view(t, s, pair[2], 2.0)
    for kind in ("forward_kl", "reverse_kl"):
        whole = float(losses.divergence(s, t, kind=kind, temperature=2.0))
        assert sum(view[kind]) + view[f"{kind}_rest"] == pytest.approx(whole, rel=1e-4, abs=1e-6)


# --- readouts ----------------------------------------------------------------------------------

def test_entropy_rises_with_temperature(logits):
    temps = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    teacher = [explore.readouts(*logits, temperature=t, alpha=0.5)["teacher_entropy"]
               for t in temps]
    student = [explore.readouts(*logits, temperature=t, alpha=0.5)["student_entropy"]
               for t in temps]
    assert teacher == sorted(teacher) and teacher[0] < teacher[-1]
    assert student == sorted(student) and student[0] < student[-1]


def test_readouts_numbers(pair, logits):
    t, s = logits
    r = explore.readouts(t, s, temperature=2.0, alpha=0.3, tokenizer=pair[2])
    assert r["teacher_choices"] == pytest.approx(math.exp(r["teacher_entropy"]))
    assert r["hard_label_id"] == int(t.argmax())
    assert r["hard_label"] == explore.visible(pair[2].decode([r["hard_label_id"]]))
    assert r["kl_teacher_student"] == pytest.approx(
        float(losses.divergence(s, t, kind="forward_kl", temperature=2.0)))
    assert r["kl_student_teacher"] == pytest.approx(
        float(losses.divergence(s, t, kind="reverse_kl", temperature=2.0)))
    assert r["kd_term"] == pytest.approx(0.3 * 4.0 * r["kl_teacher_student"], rel=1e-5)
    ce = -float(torch.log_softmax(s, -1)[r["hard_label_id"]])  # cross-entropy at T = 1
    assert r["ce_term"] == pytest.approx(0.7 * ce, rel=1e-5)
    assert r["total"] == pytest.approx(r["kd_term"] + r["ce_term"], rel=1e-5)


def test_hard_label_is_the_same_at_every_temperature(logits):
    labels = {explore.readouts(*logits, temperature=t, alpha=0.5)["hard_label_id"]
              for t in explore.TEMPERATURES}
    assert len(labels) == 1


def test_alpha_zero_drops_the_kd_term_and_alpha_one_the_ce_term(logits):
    plain = explore.readouts(*logits, temperature=4.0, alpha=0.0)
    pure = explore.readouts(*logits, temperature=4.0, alpha=1.0)
    assert plain["kd_term"] == 0.0 and plain["ce_term"] > 0
    assert plain["total"] == pytest.approx(plain["ce_term"])
    assert pure["ce_term"] == 0.0 and pure["kd_term"] > 0
    assert pure["total"] == pytest.approx(16.0 * pure["kl_teacher_student"], rel=1e-5)


def test_reverse_kind_uses_reverse_kl_in_the_kd_term(logits):
    r = explore.readouts(*logits, temperature=1.0, alpha=1.0, kind="reverse_kl")
    assert r["kd_term"] == pytest.approx(r["kl_student_teacher"], rel=1e-5)


def test_temperature_steps_are_evenly_spaced_on_a_log_scale():
    temps = explore.TEMPERATURES
    assert temps[0] == 0.1 and temps[-1] == 20.0 and 1.0 in temps and len(temps) >= 20
    ratios = [b / a for a, b in zip(temps, temps[1:])]
    assert all(r == pytest.approx(10 ** 0.1, rel=0.05) for r in ratios)


# --- mass_by_rank ------------------------------------------------------------------------------

def test_rank_points_are_log_spaced_from_one_to_the_vocabulary():
    ks = explore.rank_points(49_152, points=60)
    assert ks[0] == 1 and ks[-1] == 49_152 and ks == sorted(set(ks)) and 40 <= len(ks) <= 61
    ratios = [b / a for a, b in zip(ks[20:], ks[21:])]  # past the crowded small integers
    assert max(ratios) / min(ratios) < 1.3
    assert explore.rank_points(3) == [1, 2, 3] and explore.rank_points(1) == [1]
    with pytest.raises(InputError):
        explore.rank_points(0)


def test_mass_by_rank_on_a_known_distribution():
    logits = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125]))
    view = explore.mass_by_rank(logits, logits.flip(0), 1.0, points=4)
    assert view["k"] == [1, 2, 3, 4] and view["vocab"] == 4 and view["level"] == 0.9
    assert view["teacher"]["mass"] == pytest.approx([0.5, 0.75, 0.875, 1.0])
    assert view["teacher"]["log_prob"] == pytest.approx(
        [math.log(p) for p in (0.5, 0.25, 0.125, 0.125)])
    for key in ("mass", "log_prob"):  # each is ranked by its own probabilities
        assert view["student"][key] == pytest.approx(view["teacher"][key])
    assert view["teacher"]["k_level"] == 4  # the top 3 hold 0.875, short of 0.9
    assert explore.mass_by_rank(logits, logits, 1.0, points=4)["teacher_t1"] == view["teacher"]


@pytest.mark.parametrize("temperature", [0.5, 2.0, 8.0])
def test_mass_curves_rise_to_one_and_log_probabilities_fall(logits, temperature):
    view = explore.mass_by_rank(*logits, temperature)
    for name in ("teacher_t1", "teacher", "student"):
        mass, log_prob = view[name]["mass"], view[name]["log_prob"]
        assert len(mass) == len(log_prob) == len(view["k"])
        assert mass == sorted(mass) and mass[-1] == pytest.approx(1.0, abs=1e-9)
        assert log_prob == sorted(log_prob, reverse=True)
        assert 1 <= view[name]["k_level"] <= view["vocab"]


def test_softening_spreads_the_mass_over_more_tokens(logits):
    """Above T = 1 the top k hold less at every k, so more tokens are needed for 90 %; and the
    log-probability drop from the first rank to the last shrinks T-fold (logits / T)."""
    cold, hot = explore.mass_by_rank(*logits, 1.0), explore.mass_by_rank(*logits, 4.0)
    assert cold["teacher_t1"] == cold["teacher"] == hot["teacher_t1"]
    assert all(h <= c + 1e-9 for h, c in zip(hot["teacher"]["mass"], cold["teacher"]["mass"]))
    assert hot["teacher"]["k_level"] > cold["teacher"]["k_level"]
    drop = [v["teacher"]["log_prob"][0] - v["teacher"]["log_prob"][-1] for v in (cold, hot)]
    assert drop[1] == pytest.approx(drop[0] / 4, rel=1e-6)


def test_mass_by_rank_refuses_two_vocabularies():
    with pytest.raises(InputError, match="different vocabularies"):
        explore.mass_by_rank(torch.zeros(5), torch.zeros(6), 1.0)


def test_rank_figures_draw_the_curves_on_a_log_axis(logits):
    from distill_core.app.viz import log_prob_by_rank, top_k_mass_curves

    view = explore.mass_by_rank(*logits, 2.0)
    mass = top_k_mass_curves(view)
    names = [trace.name for trace in mass.data]
    assert [n.split(" (")[0] for n in names] == ["teacher at T = 1", "teacher at T = 2",
                                                 "student at T = 2"]
    assert f"({view['teacher']['k_level']:,} tokens hold 90%)" in names[1]
    assert list(mass.data[1].y) == view["teacher"]["mass"] and list(mass.data[1].x) == view["k"]
    assert mass.layout.xaxis.type == "log" and mass.layout.shapes[0].y0 == 0.9
    ranks = log_prob_by_rank(view)
    assert list(ranks.data[2].y) == view["student"]["log_prob"]
    assert ranks.layout.xaxis.type == "log" and "nats" in ranks.layout.yaxis.title.text
    at_one = top_k_mass_curves(explore.mass_by_rank(*logits, 1.0))
    assert len(at_one.data) == 2  # at T = 1 the T = 1 line is the teacher's own


# --- estimate ----------------------------------------------------------------------------------

def test_training_memory_formula_on_round_numbers():
    mb = estimate.training_memory_mb(1_000_000, 250_000, batch_size=2, seq_len=10, vocab=1000,
                                     n_layer=2, width=100)
    assert mb["teacher_weights"] == pytest.approx(4.0)  # 1M params × 4 bytes
    assert mb["student_states"] == pytest.approx(4.0)  # 250k × 4 bytes × (w, grad, m, v)
    assert mb["activations"] == pytest.approx(0.256)  # 20 tokens × 2 layers × 16·100 × 4 bytes
    assert mb["logits"] == pytest.approx(0.16)  # 2 models × 20 tokens × 1000 × 4 bytes
    assert mb["total"] == pytest.approx(8.416)
    heads = estimate.training_memory_mb(1_000_000, 250_000, 2, 10, 1000, 2, 100, n_head=5)
    assert heads["activations"] == pytest.approx(0.256 + 0.016)  # + 20 × 2 × 2·5·10 × 4 bytes
    half = estimate.training_memory_mb(1_000_000, 250_000, 2, 10, 1000, 2, 100, bytes_per=2)
    assert half["total"] == pytest.approx(8.416 / 2)


def test_time_per_step_is_measured_and_leaves_the_student_unchanged(small_teacher_dir):
    teacher, _ = models.load_teacher(str(small_teacher_dir))
    student = models.load_student("builtin:tiny", teacher)
    before = [p.detach().clone() for p in student.parameters()]
    seconds = estimate.time_per_step(teacher, student, batch_size=2, seq_len=16)
    assert 0 < seconds < 30
    assert all(p.grad is None for p in student.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, student.parameters()))
    assert student.training


def test_model_facts_size_on_disk(pair):
    teacher, student, _ = pair
    facts = estimate.model_facts("builtin:teacher", teacher)
    assert facts["disk_mb"] == pytest.approx(
        models.size_on_disk(models.resolve("builtin:teacher").path) / 1e6)
    assert facts["disk_mb"] > 0 and facts["layers"] == teacher.config.n_layer
    assert estimate.model_facts("builtin:half", student)["disk_mb"] is None
