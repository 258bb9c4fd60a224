"""The settings hash: package version, the bytes of local inputs (cached by path, size and
mtime), and the cached commit of a hub id."""

import os

import pytest

from distill_core.config import DistillConfig
from distill_core.store import settings_hash
from distill_core.store.settings_hash import HASH_CACHE_NAME, config_hash


@pytest.fixture(autouse=True)
def _fresh_memory(monkeypatch):
    monkeypatch.setattr(settings_hash, "_digests", {})


def test_an_edit_that_keeps_size_and_time_still_changes_the_hash(tmp_path):
    data = tmp_path / "stories.txt"
    data.write_text("once upon a time\n")
    config = DistillConfig(dataset=str(data), runs_dir=str(tmp_path))
    before = config_hash(config)
    assert (tmp_path / HASH_CACHE_NAME).is_file()
    stamp = data.stat()
    data.write_text("ONCE UPON A TIME\n")  # same size
    os.utime(data, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # and the same time
    settings_hash._digests.clear()  # another process: only the cache file remembers
    assert config_hash(config) != before


def test_a_file_only_touched_keeps_its_hash(tmp_path):
    data = tmp_path / "stories.txt"
    data.write_text("once upon a time\n")
    config = DistillConfig(dataset=str(data), runs_dir=str(tmp_path))
    before = config_hash(config)
    os.utime(data, ns=(1, 1))  # same bytes: the same numbers
    assert config_hash(config) == before


def test_a_model_folder_counts_every_file(tmp_path):
    folder = tmp_path / "teacher"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    settings = {"teacher": str(folder)}
    with pytest.MonkeyPatch.context() as mp:  # a folder is a valid teacher here: no loading
        mp.setattr(settings_hash, "_hub_revisions", lambda s: {})
        disk = {}
        first = settings_hash._content(settings["teacher"], disk)
        (folder / "model.safetensors").write_bytes(b"\1" * 64)
        assert settings_hash._content(settings["teacher"], disk) != first
        assert len(disk) == 2  # the old stamp of the weights was dropped


def test_digests_are_read_once_then_cached_on_disk_by_path_size_and_time(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()
    data = tmp_path / "stories.txt"
    data.write_text("a story\n" * 1000)
    config = DistillConfig(dataset=str(data), runs_dir=str(root))
    reads = []
    real_open = open

    def counting_open(path, *args, **kwargs):
        if str(path) == str(data.resolve()):
            reads.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    first = config_hash(config)
    assert len(reads) == 1 and (root / HASH_CACHE_NAME).is_file()
    settings_hash._digests.clear()  # a new process: the runs root's cache file answers
    assert config_hash(config) == first and len(reads) == 1
    os.utime(data, ns=(5, 5))  # a new stamp: read again, same bytes, same hash
    settings_hash._digests.clear()
    assert config_hash(config) == first and len(reads) == 2


def test_the_package_version_is_part_of_the_hash(monkeypatch):
    config = DistillConfig()
    before = config_hash(config)
    monkeypatch.setattr(settings_hash, "package_version", lambda: "99.0")
    assert config_hash(config) != before


def test_a_hub_id_is_keyed_by_the_commit_the_local_cache_resolves(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    config = DistillConfig(teacher="someone/tiny-model")
    # not cached (and offline): recorded as unknown, never asked of the hub
    assert settings_hash.hub_revision("someone/tiny-model") is None
    unknown = config_hash(config)
    refs = tmp_path / "hub" / "models--someone--tiny-model" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    assert settings_hash.hub_revision("someone/tiny-model") == "a" * 40
    first = config_hash(config)
    (refs / "main").write_text("b" * 40)  # the cache now resolves another commit
    assert len({unknown, first, config_hash(config)}) == 3
    assert settings_hash.hub_revision("someone/tiny-model", "dataset") is None
