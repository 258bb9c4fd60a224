"""train_docs for every corpus (the first N training documents, held-out ones unchanged) and the
python-docs corpus with its fixed held-out set."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import datasets  # noqa: E402
import pytest  # noqa: E402

from distill_core.config import DistillConfig  # noqa: E402
from distill_core.data import corpora, python_docs  # noqa: E402
from distill_core.data.corpora import load_corpus  # noqa: E402
from distill_core.errors import InputError  # noqa: E402

SMOLLM2 = Path.home() / ".cache" / "distill-playground" / "models" / "smollm2-135m"


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets_cache")


def texts(split) -> list[str]:
    return list(split["text"])


@pytest.fixture(scope="module")
def docs():
    return load_corpus("python-docs")


def test_python_docs_first_n_training_documents_and_the_same_held_out_set(docs):
    few = load_corpus("python-docs", train_docs=12)
    assert texts(few["train"]) == texts(docs["train"])[:12]
    assert texts(few["validation"]) == texts(docs["validation"])
    assert texts(load_corpus("python-docs", train_docs=10 ** 6)["train"]) == texts(docs["train"])


def test_python_docs_held_out_set_is_fixed_across_seeds(docs):
    other = load_corpus("python-docs", seed=7)
    assert texts(other["validation"]) == texts(docs["validation"])
    assert texts(other["train"]) == texts(docs["train"])


def test_python_docs_has_topics_and_module_docstrings_held_out_by_whole_module(docs):
    every = python_docs.documents()
    titles = [t for t, _, _ in every]
    assert titles == sorted(titles) and len(set(titles)) == len(titles)
    assert any(t.startswith("topic ") for t in titles) and "module json" in titles
    held = {t for t, _, h in every if h}
    assert {f"module {m}" for m in python_docs.HELD_OUT_MODULES} <= held
    assert len(docs["validation"]) == len(held) and len(docs["train"]) == len(every) - len(held)
    json_doc = python_docs.module_text("json")
    assert json_doc.startswith("json\n") and "\njson.dumps\n" in json_doc
    assert json_doc in texts(docs["validation"])
    # no text of a held-out document is also a training document
    assert not set(texts(docs["validation"])) & set(texts(docs["train"]))


def test_python_docs_is_the_same_when_loaded_again():
    assert python_docs.documents() == python_docs.documents()
    assert python_docs.module_text("no_such_module_here") == ""


def test_python_docs_held_out_set_has_20000_smollm2_tokens(docs):
    if not (SMOLLM2 / "tokenizer.json").exists():
        pytest.skip("the SmolLM2 tokenizer is not in ~/.cache/distill-playground/models")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(SMOLLM2))
    blocks = corpora.pack_blocks(docs["validation"], tokenizer, 128)
    assert len(blocks) * 128 >= 20_000


def test_file_first_n_training_documents(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("\n\n".join(f"document number {i}" for i in range(20)), encoding="utf-8")
    full = load_corpus(str(path), validation_fraction=0.2, seed=3)
    few = load_corpus(str(path), validation_fraction=0.2, seed=3, train_docs=5)
    assert texts(few["train"]) == texts(full["train"])[:5]
    assert texts(few["validation"]) == texts(full["validation"])


def test_hub_first_n_training_documents(monkeypatch):
    def load_dataset(spec, config=None, split=None):
        return datasets.DatasetDict(
            train=datasets.Dataset.from_dict({"text": [f"doc {i}" for i in range(30)]}),
            validation=datasets.Dataset.from_dict({"text": [f"held {i}" for i in range(4)]}))

    monkeypatch.setattr(corpora.datasets, "load_dataset", load_dataset)
    dd = load_corpus("some/data", train_docs=7)
    assert texts(dd["train"]) == [f"doc {i}" for i in range(7)]
    assert texts(dd["validation"]) == [f"held {i}" for i in range(4)]


def test_bad_train_docs_is_one_clean_line():
    with pytest.raises(InputError, match="train_docs must be at least 1"):
        load_corpus("python-docs", train_docs=0)
    with pytest.raises(InputError, match="train_stories"):
        load_corpus("tinytales", train_docs=10)
    with pytest.raises(InputError, match="train_docs"):
        DistillConfig(train_docs=0)
    assert DistillConfig().train_docs is None  # tinytales: 300 stories; any other corpus: all


def test_load_blocks_takes_train_docs_for_python_docs(small_tokenizer):
    from distill_core.training.prepared import load_blocks

    config = DistillConfig(dataset="python-docs", seq_len=64)
    train_all, val_all = load_blocks(config, small_tokenizer)
    train_few, val_few = load_blocks(config.replace(train_docs=5), small_tokenizer)
    assert len(train_few) < len(train_all)
    assert val_few.equal(val_all)
