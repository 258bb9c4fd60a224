"""Tests for distill_core.data.corpora: loading corpora, splitting, packing token blocks."""

import json
import os
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import datasets  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from distill_core.data import corpora as data  # noqa: E402
from distill_core.data.corpora import blocks_as_tensor, load_corpus, pack_blocks  # noqa: E402
from distill_core.errors import InputError  # noqa: E402

WORDS = ("the a little big red blue cat dog bird fox tree river hill house ran jumped saw found "
         "happy sad sunny rainy day night friend played sang slept under over near and").split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "."


@pytest.fixture(scope="module")
def tokenizer():
    """A small byte-level BPE tokenizer trained on made-up sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    rng = random.Random(0)
    tok.train_from_iterator([sentence(rng) for _ in range(300)], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   pad_token="<|pad|>", bos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Keep the arrow files that load_dataset writes out of the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


def all_docs(dd) -> list[str]:
    return list(dd["train"]["text"]) + list(dd["validation"]["text"])


def stories(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(sentence(rng) for _ in range(rng.randint(1, 3))) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Local files


def test_txt_documents_are_separated_by_blank_lines(tmp_path):
    text = "First doc,\nline two.\n\n\n   \nSecond doc.\r\n\r\nThird doc\n  indented.\n\n"
    dd = load_corpus(write(tmp_path / "a.txt", text))
    assert list(dd) == ["train", "validation"]
    assert dd["train"].column_names == dd["validation"].column_names == ["text"]
    assert sorted(all_docs(dd)) == sorted(["First doc,\nline two.", "Second doc.",
                                           "Third doc\n  indented."])


def test_txt_without_blank_lines_has_one_document_per_line(tmp_path):
    dd = load_corpus(write(tmp_path / "a.txt", "\nalpha one\nbeta two\ngamma three\n"))
    assert sorted(all_docs(dd)) == ["alpha one", "beta two", "gamma three"]


@pytest.mark.parametrize("column", ["text", "body"])
def test_jsonl(tmp_path, column):
    docs = stories(10)
    rows = [{column: d, "id": i} for i, d in enumerate(docs)] + [{column: None, "id": 99},
                                                                   {column: "  ", "id": 98}]
    path = write(tmp_path / "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    dd = load_corpus(path, text_column=column)
    assert dd["train"].column_names == ["text"]
    assert sorted(all_docs(dd)) == sorted(docs)


@pytest.mark.parametrize("column", ["text", "body"])
def test_csv(tmp_path, column):
    docs = stories(10) + ['He said "hi",\nthen left.', "42"]
    path = tmp_path / "d.csv"
    import csv
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", column])
        writer.writerows([i, d] for i, d in enumerate(docs))
    dd = load_corpus(str(path), text_column=column)
    assert dd["validation"].column_names == ["text"]
    assert sorted(all_docs(dd)) == sorted(docs)


def test_csv_text_that_looks_like_numbers_stays_text(tmp_path):
    dd = load_corpus(write(tmp_path / "n.csv", "text,n\n42,1\n,2\n007,3\n"))
    assert sorted(all_docs(dd)) == ["007", "42"]


def test_validation_split_is_seeded_disjoint_and_complete(tmp_path):
    docs = [f"document number {i}" for i in range(40)]
    path = write(tmp_path / "d.txt", "\n\n".join(docs))
    a = load_corpus(path, validation_fraction=0.25, seed=1)
    b = load_corpus(path, validation_fraction=0.25, seed=1)
    c = load_corpus(path, validation_fraction=0.25, seed=2)
    assert len(a["validation"]) == 10 and len(a["train"]) == 30
    assert list(a["validation"]["text"]) == list(b["validation"]["text"])
    assert list(a["validation"]["text"]) != list(c["validation"]["text"])
    assert not set(a["train"]["text"]) & set(a["validation"]["text"])
    assert sorted(all_docs(a)) == sorted(docs)


def test_tiny_fraction_still_gives_one_validation_document(tmp_path):
    dd = load_corpus(write(tmp_path / "d.txt", "one\ntwo\nthree"), validation_fraction=0.01)
    assert len(dd["validation"]) == 1 and len(dd["train"]) == 2


def test_python_docs_is_real_prose():
    dd = load_corpus("python-docs")
    docs = all_docs(dd)
    assert len(docs) > 50  # one document per pydoc topic (79 in Python 3.11)
    assert len(dd["validation"]) >= 1
    assert sum(map(len, docs)) > 100_000
    assert any(" the " in d for d in docs)
    assert list(load_corpus("python-docs")["validation"]["text"]) == list(dd["validation"]["text"])


def test_tinytales_route():
    pytest.importorskip("distill_core.data.tinytales")
    dd = load_corpus("tinytales", train_stories=6, validation_stories=3, seed=1)
    assert (len(dd["train"]), len(dd["validation"])) == (6, 3)
    assert set(dd["train"].column_names) == {"text", "logprob"}
    assert all(isinstance(t, str) and t for t in dd["train"]["text"])


# ---------------------------------------------------------------------------------------------
# Hugging Face datasets (load_dataset is faked: no network here)


@pytest.fixture
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(spec, config=None, split=None):
        calls.append((spec, config, split))
        splits = {"train": Dataset(30), "validation": Dataset(5, "v"), "test": Dataset(7, "t")}
        if spec == "no/validation":
            del splits["validation"]
        return splits[split] if split else datasets.DatasetDict(splits)

    def Dataset(n, prefix=""):
        return datasets.Dataset.from_dict({"content": [f"{prefix}doc {i}" for i in range(n)],
                                           "label": list(range(n))})

    monkeypatch.setattr(data.datasets, "load_dataset", load_dataset)
    return calls


def test_hub_uses_train_and_validation_splits(fake_hub):
    dd = load_corpus("some/data", text_column="content", config="en")
    assert fake_hub == [("some/data", "en", None)]
    assert (len(dd["train"]), len(dd["validation"])) == (30, 5)
    assert dd["train"].column_names == ["text"]
    assert dd["validation"][0]["text"] == "vdoc 0"


def test_hub_carves_validation_when_missing_or_split_given(fake_hub):
    dd = load_corpus("no/validation", text_column="content", validation_fraction=0.1)
    assert (len(dd["train"]), len(dd["validation"])) == (27, 3)
    dd = load_corpus("some/data", text_column="content", split="test", validation_fraction=0.3)
    assert (len(dd["train"]), len(dd["validation"])) == (5, 2)
    assert all(t.startswith("tdoc") for t in all_docs(dd))


def test_hub_missing_column_lists_columns(fake_hub):
    with pytest.raises(InputError, match="no column 'text'.*content, label"):
        load_corpus("some/data")


def test_hub_id_that_does_not_exist(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise datasets.exceptions.DatasetNotFoundError("Dataset 'x/y' doesn't exist on the Hub")

    monkeypatch.setattr(data.datasets, "load_dataset", load_dataset)
    with pytest.raises(InputError, match="no Hugging Face dataset 'x/y'"):
        load_corpus("x/y")


def test_hub_id_offline_and_not_cached(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="not available offline.*tinytales"):
        load_corpus("someone/no-such-dataset-4711")


# ---------------------------------------------------------------------------------------------
# Errors a user can fix


def test_file_errors(tmp_path):
    def fails(pattern, name, content=b"", **kwargs):
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(InputError, match=pattern):
            load_corpus(str(path), **kwargs)

    fails("no such file", "missing.txt", None)
    fails("supported are .txt, .jsonl, .json, .csv", "notes.md", b"one\ntwo\n")
    fails("is empty", "empty.txt", b"")
    fails("no documents", "blank.txt", b"\n   \n\n")
    fails("only 1 document; at least 2", "single.txt", b"\njust one line\n\n")
    fails(r"0\.001 MB, over the cap of 0\.0001 MB", "big.txt", b"word\n" * 200, max_bytes=100)
    fails("binary", "bin.txt", b"abc\x00\x01\x02def\n")
    fails("not valid UTF-8.*offset 9", "latin.txt", b"ok ok\ncaf\xe9\n")
    fails("not valid UTF-8", "latin.jsonl", b'{"text": "caf\xe9"}\n{"text": "b"}\n')
    fails("binary", "bin.csv", b"text\n\x00\x00\n")
    fails(r"JSON lines \(line 2\)", "broken.jsonl", b'{"text": "a"}\n{"text": "b"\n{"text": "c"}\n')
    fails("as CSV", "broken.csv", b'text,n\n"a,1\nb,2\n')
    fails("no column 'body'; its columns are text, id", "cols.jsonl",
          b'{"text": "a", "id": 1}\n{"text": "b", "id": 2}\n', text_column="body")
    fails("no column 'body'; its columns are text", "cols.csv", b"text\na\nb\n", text_column="body")
    fails("must hold text.*row 2 holds int", "ints.jsonl", b'{"text": "a"}\n{"text": 3}\n')
    fails("no documents", "nulls.jsonl", b'{"text": null}\n{"text": ""}\n')
    fails("only 1 document", "one.csv", b"text\nhello\n")
    (tmp_path / "adir").mkdir()
    fails("not a file", "adir", None)


def test_option_errors(tmp_path):
    path = write(tmp_path / "d.txt", "a\nb\nc\n")
    with pytest.raises(InputError, match="validation_fraction"):
        load_corpus(path, validation_fraction=1.0)
    with pytest.raises(InputError, match="only to the tinytales"):
        load_corpus(path, train_stories=10)
    with pytest.raises(InputError, match="no corpus given"):
        load_corpus(" ")
    with pytest.raises(InputError, match="only to Hugging Face"):
        load_corpus("python-docs", split="train")


# ---------------------------------------------------------------------------------------------
# Packing


def token_stream(tokenizer, docs) -> list[int]:
    ids = []
    for doc in docs:
        ids += tokenizer(doc, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return ids


def test_pack_blocks_exact(tokenizer):
    docs = stories(30, seed=3)
    ds = datasets.Dataset.from_dict({"text": docs, "logprob": [0.0] * len(docs)})
    blocks = pack_blocks(ds, tokenizer, 16, batch_size=10_000)
    assert blocks.column_names == ["input_ids"]
    assert all(len(row) == 16 for row in blocks["input_ids"])
    stream = token_stream(tokenizer, docs)
    assert len(blocks) == len(stream) // 16 > 2
    assert sum(blocks["input_ids"], []) == stream[:len(blocks) * 16]

    eos = "<|endoftext|>"
    decoded = "".join(tokenizer.decode(row) for row in blocks["input_ids"])
    assert (eos.join(docs) + eos).startswith(decoded)
    assert decoded.count(eos) >= 2 and decoded.startswith(docs[0] + eos + docs[1] + eos)

    tensor = blocks_as_tensor(blocks)
    assert tensor.dtype == torch.long and tensor.shape == (len(blocks), 16)
    assert tensor[0].tolist() == stream[:16]


def test_pack_blocks_drops_only_each_batch_remainder(tokenizer):
    docs = stories(25, seed=4)
    ds = datasets.Dataset.from_dict({"text": docs})
    blocks = pack_blocks(ds, tokenizer, 8, batch_size=5)
    expected = []
    for start in range(0, len(docs), 5):
        stream = token_stream(tokenizer, docs[start:start + 5])
        expected += [stream[i:i + 8] for i in range(0, len(stream) - 7, 8)]
    assert blocks["input_ids"][:] == expected


def test_pack_blocks_errors(tokenizer):
    ds = datasets.Dataset.from_dict({"text": ["tiny", "text"]})
    n = len(token_stream(tokenizer, ["tiny", "text"]))
    with pytest.raises(InputError, match=f"only {n} tokens, fewer than one block of 64"):
        pack_blocks(ds, tokenizer, 64)
    with pytest.raises(InputError, match="raise batch_size"):
        pack_blocks(ds, tokenizer, n - 1, batch_size=1)

    class NoEos:
        eos_token_id = None

    with pytest.raises(InputError, match="eos"):
        pack_blocks(ds, NoEos(), 4)
