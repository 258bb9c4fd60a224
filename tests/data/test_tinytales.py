import math
import random
from collections import Counter

from distill_core.data import tinytales


def test_same_seed_same_stories_and_splits_differ():
    a = tinytales.generate(50, seed=3)
    assert a == tinytales.generate(50, seed=3)
    assert a != tinytales.generate(50, seed=4)
    assert a != tinytales.generate(50, seed=3, split="validation")


def test_load_returns_train_and_validation_with_logprobs():
    ds = tinytales.load(train_stories=40, validation_stories=10, seed=0)
    assert (len(ds["train"]), len(ds["validation"])) == (40, 10)
    assert ds["train"].column_names == ["text", "logprob"]
    assert all(lp < 0 and math.isfinite(lp) for lp in ds["train"]["logprob"])


def test_vocabulary_and_patterns_are_large_enough():
    assert len(tinytales.PATTERNS) >= 60
    texts = [t for t, _ in tinytales.generate(5000, seed=0)]
    assert len(tinytales.vocabulary(texts)) >= 1500


def test_next_word_after_a_prompt_has_many_graded_continuations():
    prompt = "Once upon a time there was a little "
    nxt = Counter(t[len(prompt):].split()[0] for t, _ in tinytales.generate(20000, seed=0)
                  if t.startswith(prompt))
    assert len(nxt) >= 20
    counts = [c for _, c in nxt.most_common()]
    assert counts[0] < 0.5 * sum(counts)  # no single word dominates
    assert counts[0] > 3 * counts[10]  # but the odds are graded


def test_stories_refer_back_to_their_characters():
    stories = tinytales.generate(500, seed=0)
    names = tinytales.GIRL_NAMES + tinytales.BOY_NAMES + tinytales.PET_NAMES
    repeated = 0
    for text, _ in stories:
        counts = Counter(w.strip('.,!?"\'') for w in text.split())
        repeated += any(counts[n] >= 2 for n in names)
    assert repeated / len(stories) > 0.9
    assert any('"' in t for t, _ in stories)  # dialogue


def test_draw_logprob_matches_observed_frequency():
    items = ("a", "b", "c", "d", "e")
    freq, logp = Counter(), {}
    rng = random.Random(0)
    for _ in range(20000):
        d = tinytales.Draw(rng)
        x = d.zipf(items, exclude="b")
        freq[x] += 1
        logp[x] = d.logp
    assert "b" not in freq
    assert abs(sum(math.exp(v) for v in logp.values()) - 1) < 1e-9
    for x, n in freq.items():
        assert abs(n / 20000 - math.exp(logp[x])) < 0.015


def test_entropy_floor_counts_every_token_and_one_eos_per_story(small_tokenizer):
    ds = tinytales.load(train_stories=10, validation_stories=30, seed=0)["validation"]
    floor = tinytales.entropy_floor(ds, small_tokenizer)
    n_tokens = sum(len(small_tokenizer(t, add_special_tokens=False)["input_ids"])
                   for t in ds["text"]) + len(ds)
    assert floor["tokens"] == n_tokens
    assert math.isclose(floor["nats_per_token"], -sum(ds["logprob"]) / n_tokens)
    assert 1.5 < floor["ppl"] < 10
