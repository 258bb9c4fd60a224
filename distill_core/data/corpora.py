"""Corpora in, fixed-size blocks of token ids out.

`load_corpus` turns a spec (a built-in corpus, a local file, or a Hugging Face dataset id) into a
DatasetDict with "train" and "validation" splits and one "text" column. `pack_blocks` tokenises the
text and cuts it into blocks of `block_size` token ids for training.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict

from distill_core.data import python_docs
from distill_core.errors import InputError
from distill_core.paths import looks_like_path
from distill_core.policy import Limits

BUILTIN_CORPORA = ("tinytales", "python-docs")
FILE_KINDS = {".txt": "text", ".jsonl": "json", ".json": "json", ".csv": "csv"}


def load_corpus(spec: str, *, text_column: str = "text", config: str | None = None,
                split: str | None = None, validation_fraction: float = 0.05, seed: int = 0,
                max_bytes: int | None = None, train_stories: int | None = None,
                validation_stories: int | None = None,
                train_docs: int | None = None) -> DatasetDict:
    """Load a corpus as splits "train" and "validation" with one column, "text".

    spec is one of:
      "tinytales"    the built-in story corpus (also keeps its "logprob" column); the story
                     counts, when given, go to `tinytales.load`.
      "python-docs"  this Python's pydoc topics and standard-library docstrings, read at run time
                     (python_docs.py), with a fixed held-out set: the same for every seed.
      a file path    .txt, .jsonl / .json (JSON lines) or .csv, UTF-8, at most `max_bytes`
                     (default 50 MB; a server passes its
                     own cap, see store/limits.py).
                     A .txt file is split into documents at blank lines (one or more lines that
                     are empty or only whitespace); a file with no blank line at all has one
                     document per non-empty line. Lines keep their text; CRLF becomes LF.
                     For .jsonl and .csv the text is in column `text_column`.
      anything else  a Hugging Face dataset id, loaded with `config` and `split`. Without `split`
                     it uses "train", and "validation" if the dataset has it.
    Where no validation split exists, a seeded shuffle puts `validation_fraction` of the documents
    (at least one) in "validation" and the rest in "train". Empty texts are dropped.
    `train_docs` (every corpus but tinytales, which takes `train_stories`) keeps the first N
    training documents, in the corpus's order; the validation documents do not depend on it.
    """
    if not spec.strip():
        raise InputError(f"no corpus given: name a built-in one ({', '.join(BUILTIN_CORPORA)}), "
                         "a file or a Hugging Face dataset id")
    if not 0 < validation_fraction < 1:
        raise InputError(f"validation_fraction must be between 0 and 1, got {validation_fraction}")
    route = corpus_route(spec)
    if route != "tinytales" and (train_stories is not None or validation_stories is not None):
        raise InputError("train_stories and validation_stories apply only to the tinytales corpus")
    if route != "hub" and (config is not None or split is not None):
        raise InputError(f"config and split apply only to Hugging Face datasets, not to {spec!r}")
    if route == "tinytales":
        if train_docs is not None:
            raise InputError("for tinytales, give the number of stories as train_stories")
        return _tinytales(train_stories, validation_stories, seed)
    if route == "python-docs":
        return first_train_docs(python_docs.load(), train_docs)
    if route == "file":
        if max_bytes is None:
            max_bytes = int(Limits().max_data_mb * 1e6)
        docs = _read_file(Path(spec).expanduser(), text_column, max_bytes)
        return first_train_docs(_carve(docs, validation_fraction, seed, spec), train_docs)
    return first_train_docs(_load_hub(spec, config, split, text_column, validation_fraction, seed),
                            train_docs)


def first_train_docs(corpus: DatasetDict, n: int | None) -> DatasetDict:
    """The corpus with only its first `n` training documents (all of them when `n` is None or
    at least their number); the validation split is left as it is."""
    if n is None or n >= len(corpus["train"]):
        return corpus
    if n < 1:
        raise InputError(f"train_docs must be at least 1, got {n}")
    return DatasetDict(train=corpus["train"].select(range(n)), validation=corpus["validation"])


def corpus_route(spec: str) -> str:
    if spec in BUILTIN_CORPORA:
        return spec
    if looks_like_path(spec) or Path(spec).suffix.lower() in FILE_KINDS:
        return "file"
    return "hub"


def _carve(ds: Dataset, validation_fraction: float, seed: int, source: str) -> DatasetDict:
    """Seeded split of one set of documents into train and validation (both keep file order)."""
    n = len(ds)
    if n == 0:
        raise InputError(f"{source} has no documents (no non-empty text found)")
    if n == 1:
        raise InputError(f"{source} has only 1 document; at least 2 are needed "
                         "(one for training, one for validation)")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = min(n - 1, max(1, round(validation_fraction * n)))
    return DatasetDict(train=ds.select(sorted(order[n_val:])),
                       validation=ds.select(sorted(order[:n_val])))


# ---------------------------------------------------------------------------------------------
# Built-in corpora


def _tinytales(train_stories: int | None, validation_stories: int | None, seed: int) -> DatasetDict:
    from distill_core.data import tinytales

    counts = {"train_stories": train_stories, "validation_stories": validation_stories}
    counts = {k: v for k, v in counts.items() if v is not None}
    for name, n in counts.items():
        if n < 1:
            raise InputError(f"{name} must be at least 1, got {n}")
    return tinytales.load(**counts, seed=seed)


# ---------------------------------------------------------------------------------------------
# Local files


def _read_file(path: Path, text_column: str, max_bytes: int) -> Dataset:
    """The documents of a checked local file as a Dataset with one column, "text"."""
    kind = FILE_KINDS.get(path.suffix.lower())
    if not path.exists():
        raise InputError(f"no such file: {path} (check the path)")
    if not path.is_file():
        raise InputError(f"{path} is not a file: give a {', '.join(FILE_KINDS)} file")
    if kind is None:
        raise InputError(f"unsupported file type {path.suffix or '(none)'!r} for {path}: "
                         f"supported are {', '.join(FILE_KINDS)}")
    text = read_text_file(path, max_bytes)
    if kind == "text":
        return Dataset.from_dict({"text": split_text(text)})
    return _text_only(_load_table(path, kind, text_column, text), text_column, path.name)


def read_text_file(path: Path, max_bytes: int) -> str:
    """A UTF-8 text file's contents, refused with one line when empty, over `max_bytes`, binary
    or not UTF-8."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path} is empty: give a file with at least 2 documents")
    if size > max_bytes:
        raise InputError(f"{path} is {_mb(size)}, over the cap of {_mb(max_bytes)}: "
                         "use a smaller file (the cap is DISTILL_MAX_DATA_MB)")
    return decode_text(path.read_bytes(), str(path))


def decode_text(raw: bytes, name: str, upload: bool = False) -> str:
    """What counts as a text file here: not empty, no NUL bytes, UTF-8 (a BOM is dropped).
    One line of refusal otherwise, phrased for a file path or (`upload`) an uploaded file."""
    if not raw.strip():
        what = "is empty" if not raw else "has no documents (only blank space)"
        raise InputError(f"{name} {what}: {'upload' if upload else 'give'} a file with at least "
                         "2 documents")
    if b"\0" in raw:
        raise InputError(f"{name} looks binary (it holds NUL bytes): "
                         f"{'upload' if upload else 'give'} a UTF-8 text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{name} is {'not UTF-8 text' if upload else 'not valid UTF-8'} (bad byte "
                         f"at offset {e.start}): save it as UTF-8"
                         f"{' and upload it again' if upload else ''}") from None


def _mb(n: int) -> str:
    return f"{n / 1e6:.3g} MB"


def split_text(text: str) -> list[str]:
    """Documents of a .txt file: blocks between blank lines, or lines if there is no blank line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if all(line.strip() for line in lines):
        return lines
    docs, current = [], []
    for line in lines + [""]:
        if line.strip():
            current.append(line)
        elif current:
            docs.append("\n".join(current))
            current = []
    return docs


def _load_table(path: Path, kind: str, text_column: str, text: str) -> Dataset:
    # CSV has no types: read the text column as strings so that "42" stays "42".
    extra = {"converters": {text_column: str}} if kind == "csv" else {}
    try:
        return datasets.load_dataset(kind, data_files=str(path), split="train", **extra)
    except (datasets.exceptions.DatasetGenerationError, ValueError) as e:
        reason = " ".join(str(e.__cause__ or e).split())
        where = ""
        if kind == "json" and (line := _bad_json_line(text)) is not None:
            where = f" (line {line})"
        what = "JSON lines" if kind == "json" else "CSV"
        raise InputError(f"could not read {path.name} as {what}{where}: {reason}") from None


def _bad_json_line(text: str) -> int | None:
    """1-based number of the first non-blank line that is not a JSON object, if any."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            if not isinstance(json.loads(line), dict):
                return number
        except ValueError:
            return number
    return None


# ---------------------------------------------------------------------------------------------
# Hugging Face Hub


def _load_hub(spec: str, config: str | None, split: str | None, text_column: str,
              validation_fraction: float, seed: int) -> DatasetDict:
    loaded = _hub_dataset(spec, config, split)
    if split is not None:
        return _carve(_text_only(loaded, text_column, spec), validation_fraction, seed, spec)
    if "train" not in loaded:
        raise InputError(f"{spec} has no 'train' split (it has {', '.join(loaded)}): "
                         "choose one with split")
    train = _text_only(loaded["train"], text_column, f"{spec} train")
    if "validation" not in loaded:
        return _carve(train, validation_fraction, seed, spec)
    validation = _text_only(loaded["validation"], text_column, f"{spec} validation")
    for name, ds in (("train", train), ("validation", validation)):
        if len(ds) == 0:
            raise InputError(f"the {name} split of {spec} has no documents (no non-empty text)")
    return DatasetDict(train=train, validation=validation)


def _hub_dataset(spec: str, config: str | None, split: str | None):
    try:
        return datasets.load_dataset(spec, config, split=split)
    except ConnectionError:
        raise InputError(f"{spec!r} is not a local file, and the Hugging Face dataset {spec!r} is "
                         "not available offline: connect to the internet or pick a built-in "
                         f"corpus ({', '.join(BUILTIN_CORPORA)})") from None
    except datasets.exceptions.DatasetNotFoundError:
        raise InputError(f"no Hugging Face dataset {spec!r} (or it is private or gated): check the "
                         f"id or pick a built-in corpus ({', '.join(BUILTIN_CORPORA)})") from None
    except (FileNotFoundError, ValueError) as e:  # bad config or split name, no data files
        raise InputError(f"could not load {spec!r}: {' '.join(str(e).split())}") from None


# ---------------------------------------------------------------------------------------------
# Shared


def _text_only(ds: Dataset, column: str, source: str) -> Dataset:
    """Keep only `column`, renamed "text"; drop empty texts; refuse values that are not text."""
    if column not in ds.column_names:
        raise InputError(f"{source} has no column {column!r}; its columns are "
                         f"{', '.join(ds.column_names)}: pick one as the text column")
    ds = ds.select_columns([column])
    if column != "text":
        ds = ds.rename_column(column, "text")

    def keep(batch, rows):
        for text, row in zip(batch["text"], rows):
            if text is not None and not isinstance(text, str):
                raise InputError(f"column {column!r} of {source} must hold text, but row {row + 1} "
                                 f"holds {type(text).__name__} {str(text)[:40]!r}")
        return [bool(text and text.strip()) for text in batch["text"]]

    return ds.filter(keep, batched=True, with_indices=True)


# ---------------------------------------------------------------------------------------------
# Tokens


def pack_blocks(dataset: Dataset, tokenizer, block_size: int, *, batch_size: int = 1000) -> Dataset:
    """Tokenise "text" and cut it into rows of exactly `block_size` token ids ("input_ids").

    Each document is followed by the end-of-text token. Within each map batch the documents are
    joined and cut into consecutive blocks; the batch's last partial block is dropped (no padding).
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise InputError("the tokenizer has no end-of-text (eos) token: pick one that has")
    if block_size < 1 or batch_size < 1:
        raise InputError(f"block_size and batch_size must be at least 1, got {block_size} "
                         f"and {batch_size}")

    def pack(batch):
        ids = []
        for doc in tokenizer(batch["text"], add_special_tokens=False)["input_ids"]:
            ids.extend(doc)
            ids.append(eos)
        end = len(ids) - len(ids) % block_size
        return {"input_ids": [ids[i:i + block_size] for i in range(0, end, block_size)]}

    blocks = dataset.map(pack, batched=True, batch_size=batch_size,
                         remove_columns=dataset.column_names, desc="packing blocks")
    if len(blocks) == 0:
        n = sum(len(ids) + 1 for ids in
                tokenizer(dataset["text"][:], add_special_tokens=False)["input_ids"])
        if n < block_size:
            raise InputError(f"the data has only {n} tokens, fewer than one block of {block_size}: "
                             "use more text or a smaller block size")
        raise InputError(f"no batch of {batch_size} documents fills a block of {block_size} tokens "
                         f"({n} tokens in all): raise batch_size or lower block_size")
    return blocks


def blocks_as_tensor(ds: Dataset):
    """The "input_ids" of packed blocks as a torch.LongTensor of shape (N, block_size)."""
    import torch

    return torch.as_tensor(ds.with_format("numpy")[:]["input_ids"], dtype=torch.long)
