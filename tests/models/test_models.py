import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from distill_core import models
from distill_core.errors import InputError


# --- specs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, kind", [("builtin:teacher", "builtin"), ("builtin:half", "preset"),
                                        ("builtin:tiny", "preset"), ("gpt2", "hub"),
                                        ("distilbert/distilgpt2", "hub")])
def test_resolve_kinds(spec, kind):
    assert models.resolve(spec).kind == kind


@pytest.mark.parametrize("spec, words", [("", "empty"), ("builtin:nope", "unknown built-in"),
                                         ("./missing-dir", "no model folder"),
                                         ("a b", "not a valid model id"),
                                         ("x/y/z", "no model folder")])
def test_resolve_refuses_bad_specs(spec, words):
    with pytest.raises(InputError, match=words):
        models.resolve(spec)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(InputError, match="config.json"):
        models.resolve(str(tmp_path))


# --- loading -------------------------------------------------------------------------------

def test_local_folder_loads_safetensors_in_eval_mode(small_teacher_dir):
    teacher, tok = models.load_teacher(str(small_teacher_dir))
    assert not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    assert len(tok) == teacher.config.vocab_size


def test_pickle_only_checkpoint_is_refused(tmp_path, small_teacher_dir):
    model = GPT2LMHeadModel.from_pretrained(small_teacher_dir)
    (tmp_path / "config.json").write_text((small_teacher_dir / "config.json").read_text())
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(InputError, match="pickle"):
        models.load_pretrained(str(tmp_path))


def test_remote_code_is_never_run(tmp_path, small_teacher_dir):
    import shutil

    shutil.copytree(small_teacher_dir, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "evil.EvilModel"}
    cfg["model_type"] = "evil-custom"
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "m" / "evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(InputError):
        models.load_pretrained(str(tmp_path / "m"))


def test_hub_model_not_cached_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="offline"):
        models.load_pretrained("someone/not-a-cached-model")


# --- students from teachers ----------------------------------------------------------------

def _gpt2(layers=4, width=64):
    return GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=64, n_embd=width,
                                      n_layer=layers, n_head=4)).eval()


def test_half_student_copies_alternating_teacher_layers():
    teacher = _gpt2()
    student = models.make_student(teacher, init="teacher_layers")
    assert student.config.n_layer == 2 and student.training
    for i, j in ((0, 0), (1, 2)):
        for (name, p), (_, q) in zip(student.transformer.h[i].named_parameters(),
                                     teacher.transformer.h[j].named_parameters()):
            assert torch.equal(p, q), name
    assert torch.equal(student.transformer.wte.weight, teacher.transformer.wte.weight)
    assert torch.equal(student.transformer.ln_f.weight, teacher.transformer.ln_f.weight)


def test_student_of_llama_teacher_copies_layers_and_shrinks():
    teacher = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128,
                                           num_hidden_layers=4, num_attention_heads=4,
                                           num_key_value_heads=2))
    half = models.make_student(teacher, init="teacher_layers")
    assert torch.equal(half.model.layers[1].mlp.up_proj.weight,
                       teacher.model.layers[2].mlp.up_proj.weight)
    narrow = models.make_student(teacher, n_layer=2, n_embd=32, n_head=2)
    assert narrow.config.hidden_size == 32 and narrow.config.intermediate_size == 64
    out = narrow(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert out.shape == (1, 3, 300)


def test_random_student_is_seeded_and_smaller():
    teacher = _gpt2()
    a = models.make_student(teacher, n_layer=2, n_embd=32, n_head=2, seed=5)
    b = models.make_student(teacher, n_layer=2, n_embd=32, n_head=2, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert models.describe(a)["parameters"] < models.describe(teacher)["parameters"]


@pytest.mark.parametrize("kwargs, words", [({"n_embd": 30, "n_head": 4}, "divisible"),
                                           ({"n_embd": 32, "init": "teacher_layers"}, "width"),
                                           ({"init": "magic"}, "init")])
def test_impossible_students_are_refused(kwargs, words):
    with pytest.raises(InputError, match=words):
        models.make_student(_gpt2(), **kwargs)


# --- tokenizer compatibility ---------------------------------------------------------------

def _tokenizer(texts, vocab_size=300, specials=("<|endoftext|>", "<|pad|>")):
    from tokenizers import Tokenizer, decoders, models as tm, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(tm.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=specials[0],
                                   pad_token=specials[1])


TEXT = ["the cat sat on the mat and the dog ran in the park"] * 20


def test_same_tokenizer_is_identical():
    a, b = _tokenizer(TEXT), _tokenizer(TEXT)
    v = models.check_compatibility(a, b, 300, 300)
    assert v.ok and v.verdict == "identical" and v.vocab_size == len(a)


def test_padded_embedding_rows_are_compatible():
    a = _tokenizer(TEXT)
    v = models.check_compatibility(a, a, 152064, 151936)
    assert v.ok and v.verdict == "padded_rows"
    assert "152,064" in v.message and "151,936" in v.message


def test_different_vocabularies_are_refused_with_counts():
    a = _tokenizer(TEXT)
    b = _tokenizer(["completely other words: zebra quartz juxtapose"] * 20)
    v = models.check_compatibility(a, b)
    assert not v.ok and v.verdict == "different_vocabulary"
    assert v.details["mismatched"] > 0
    with pytest.raises(InputError, match="tokenizers differ"):
        models.require_compatible(a, b)


def test_special_tokens_differing_is_reported():
    a = _tokenizer(TEXT)
    b = _tokenizer(TEXT)
    b.pad_token = "<|endoftext|>"
    v = models.check_compatibility(a, b)
    assert v.ok and v.verdict == "special_tokens_differ" and "pad_token" in v.message


# --- the built-in pair ---------------------------------------------------------------------

def test_builtin_pair_loads_offline_and_teacher_beats_student_presets(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from distill_core.data import tinytales
    from distill_core.data.corpora import blocks_as_tensor, pack_blocks
    from distill_core.training.evaluate import perplexity

    teacher, tok = models.load_teacher("builtin:teacher")
    val = tinytales.load(train_stories=1, validation_stories=60, seed=0)["validation"]
    blocks = blocks_as_tensor(pack_blocks(val, tok, 128))
    floor = tinytales.entropy_floor(val, tok)["ppl"]
    teacher_ppl = perplexity(teacher, blocks)
    assert floor < teacher_ppl < 1.5 * floor
    for preset in ("tiny", "small", "half"):
        student = models.load_student(f"builtin:{preset}", teacher)
        assert perplexity(student, blocks) > 2 * teacher_ppl, preset
