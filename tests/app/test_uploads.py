"""save_upload: size cap, allowed types, safe names, text only, stored under <root>/uploads/."""

import hashlib

import pytest

from distill_core.data.corpora import load_corpus
from distill_core.errors import InputError
from distill_core.app.uploads import safe_name, save_upload

STORIES = b"Once upon a time there was a fox.\n\nThe fox found a red ball.\n\nThe end came soon.\n"


def test_stored_under_uploads_with_a_content_hash(tmp_path):
    path = save_upload("stories.txt", STORIES, tmp_path)
    assert path.parent == tmp_path / "uploads"
    assert path.name == hashlib.sha256(STORIES).hexdigest()[:10] + "-stories.txt"
    assert path.read_bytes() == STORIES
    assert len(load_corpus(str(path))["train"]) == 2  # the data loader reads it as it is


def test_same_name_other_content_never_collides_same_content_is_stored_once(tmp_path):
    a = save_upload("data.txt", STORIES, tmp_path)
    b = save_upload("data.txt", STORIES + b"\nMore.\n", tmp_path)
    assert a != b and a.read_bytes() == STORIES
    assert save_upload("data.txt", STORIES, tmp_path) == a
    assert len(list((tmp_path / "uploads").iterdir())) == 2


def test_default_root_is_the_runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(tmp_path / "runs"))
    assert save_upload("a.csv", b"text\nhello\n").parent == tmp_path / "runs" / "uploads"


@pytest.mark.parametrize("given, stored", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\My Stories (2).TXT", "My_Stories__2_.txt"),
    ("...hidden.jsonl", "hidden.jsonl"),
    (".csv", "upload.csv"),
    ("tab\tname;rm -rf.csv", "tab_name_rm_-rf.csv"),
    ("ünïcode.txt", "_n_code.txt"),
])
def test_names_are_made_safe(given, stored):
    assert safe_name(given) == stored


def test_safe_names_stay_inside_the_uploads_folder(tmp_path):
    path = save_upload("../../../../outside.txt", STORIES, tmp_path)
    assert path.parent == tmp_path / "uploads" and not path.name.startswith(".")


@pytest.mark.parametrize("name", ["model.bin", "data.json", "notes", "archive.txt.gz", ""])
def test_only_txt_jsonl_csv(tmp_path, name):
    with pytest.raises(InputError, match=r"\.txt, \.jsonl, \.csv"):
        save_upload(name, STORIES, tmp_path)


def test_size_cap_in_megabytes(tmp_path):
    with pytest.raises(InputError, match=r"big\.txt is 2\.5 MB, over the upload limit of 2\.0 MB"):
        save_upload("big.txt", b"a" * 2_500_000, tmp_path, max_bytes=2_000_000)
    assert not (tmp_path / "uploads").exists()


@pytest.mark.parametrize("data, why", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"fine text\x00more", "binary"),
    (b"caf\xe9 au lait\n", "not UTF-8 text .bad byte at offset 3"),
    (b"  \n\n ", "no documents"),
])
def test_only_utf8_text(tmp_path, data, why):
    with pytest.raises(InputError, match=why):
        save_upload("x.txt", data, tmp_path)
    assert not (tmp_path / "uploads").exists()
