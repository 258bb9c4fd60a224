"""temperature: the teacher's profile over T, and the table and finding from known numbers."""

import pytest
import torch

from distill_core.training import experiments
from distill_core.training.experiments.temperature import (best_temperature_clause,
                                                           softening_clause)


def _temperature(ppl_by_t: dict) -> dict:
    noise = {1.0: (0.0, 0.01, 0.02), 2.0: (0.0, 0.02, 0.01), 4.0: (0.01, -0.01, 0.02)}
    records = [{"temperature": t, "seed": s, "student_ppl": p + noise[t][s]}
               for t, p in ppl_by_t.items() for s in range(3)]
    teacher = [{"temperature": t, "entropy": 0.5 * t, "top_k_mass": 1 / t} for t in ppl_by_t]
    return {"records": records, "teacher": teacher, "alpha": 0.9, "top_k": 64}


def test_temperature_finding_names_the_best_t_and_its_ties():
    two = experiments.summarize("temperature", _temperature({1.0: 3.5, 2.0: 3.0, 4.0: 3.01}))
    assert "lowest at T = 2 (3.010 ± 0.010)" in two["finding"]
    assert "no clear difference from T = 4" in two["finding"]
    assert "entropy went from 0.50 to 2.00 nats" in two["finding"]
    one = experiments.summarize("temperature", _temperature({1.0: 2.5, 2.0: 3.0, 4.0: 3.01}))
    assert "lowest at T = 1" in one["finding"] and "clearly below every other" in one["finding"]
    assert [row[-1] for row in one["rows"]] == ["best", "clearly higher (+0.500 ± 0.010)",
                                                "clearly higher (+0.507 ± 0.015)"]


def test_the_whole_finding_word_for_word():
    out = experiments.summarize("temperature", _temperature({1.0: 3.5, 2.0: 3.0, 4.0: 3.01}))
    assert out["finding"] == (
        "At α = 0.9 the student's perplexity was lowest at T = 2 (3.010 ± 0.010), with no clear "
        "difference from T = 4, while from T = 1 to 4 the teacher's entropy went from 0.50 to "
        "2.00 nats and its top-64 mass from 100.0 % to 25.0 %.")
    assert out["rows"][2] == ["4", "3", "3.017 ± 0.015", "2.000", "25.0",
                              "no clear difference (+0.007 ± 0.023)"]


def test_best_temperature_clause():
    data = _temperature({1.0: 2.5, 2.0: 3.0, 4.0: 3.01})
    assert best_temperature_clause(data) == ("At α = 0.9 the student's perplexity was lowest at "
                                             "T = 1 (2.510 ± 0.010), clearly below every other "
                                             "setting")
    data["records"] = [r for r in data["records"] if r["seed"] == 0]
    assert best_temperature_clause(data).endswith(
        "T = 1 (2.500), against T = 2 and T = 4 after one run each (spread unknown)")


def test_softening_clause_reads_the_first_and_last_temperature():
    profile = [{"temperature": 1.0, "entropy": 1.284, "top_k_mass": 0.873},
               {"temperature": 2.0, "entropy": 4.0, "top_k_mass": 0.3},
               {"temperature": 4.0, "entropy": 7.496, "top_k_mass": 0.0771}]
    assert softening_clause(profile, 8) == ("from T = 1 to 4 the teacher's entropy went from "
                                            "1.28 to 7.50 nats and its top-8 mass from 87.3 % "
                                            "to 7.7 %")


def test_teacher_profile_over_temperature(small_teacher_dir):
    from distill_core import models
    from distill_core.kd.losses import entropy

    teacher, tokenizer = models.load_teacher(str(small_teacher_dir))
    blocks = torch.randint(0, len(tokenizer), (5, 16))
    teacher.train()
    profile = experiments.teacher_profile(teacher, tokenizer, blocks, [1.0, 2.0, 8.0], k=4,
                                          batch=2)
    assert teacher.training  # read in eval mode, then back in its own mode
    teacher.eval()
    logits = models.next_token_logits(teacher, blocks, len(tokenizer)).float()
    assert profile[0]["entropy"] == pytest.approx(entropy(logits).mean().item(), rel=1e-5)
    assert profile[0]["entropy"] < profile[1]["entropy"] < profile[2]["entropy"]
    assert 1 >= profile[0]["top_k_mass"] > profile[1]["top_k_mass"] > profile[2]["top_k_mass"]
