"""In the app, local models and data files are read only from the folders the server shares."""

import os

import pytest

from distill_core.app import launch, paths as app_paths
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.policy import Limits


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTILL_MODEL_DIRS", raising=False)
    monkeypatch.delenv("DISTILL_DATA_DIRS", raising=False)
    root = tmp_path / "runs"
    (root / "uploads").mkdir(parents=True)
    return root


@pytest.mark.parametrize("spec, path", [
    ("builtin:teacher", False), ("builtin:tiny", False), ("openai-community/gpt2", False),
    ("gpt2", False), ("/etc", True), ("./x", True), ("../x", True), ("~/models", True),
    ("a/b/c", True), ("C:\\models", True)])
def test_what_counts_as_a_path(spec, path):
    assert app_paths.looks_like_path(spec) is path


def test_models_only_from_the_runs_root_assets_and_model_dirs(root, tmp_path, small_teacher_dir):
    inside = root / "some-run" / "student"
    inside.mkdir(parents=True)
    app_paths.require_shared_model(str(inside), "student", root)
    app_paths.require_shared_model("builtin:teacher", "teacher", root)
    from distill_core.models import ASSETS

    app_paths.require_shared_model(str(ASSETS / "builtin" / "teacher"), "teacher", root)
    with pytest.raises(InputError, match="no model folder at .* that this app may read"):
        app_paths.require_shared_model(str(small_teacher_dir), "teacher", root)
    shared = Limits(model_dirs=(str(small_teacher_dir.parent),))
    app_paths.require_shared_model(str(small_teacher_dir), "teacher", root, shared)


@pytest.mark.parametrize("spec", ["/etc", "/", "/no/such/folder", "~", "../../..",
                                  "{root}/../outside", "{root}/uploads/../../outside"])
def test_paths_outside_get_one_message_whether_they_exist_or_not(root, spec):
    (root.parent / "outside").mkdir()
    spec = spec.format(root=root)
    with pytest.raises(InputError) as err:
        app_paths.require_shared_model(spec, "teacher", root)
    assert str(err.value).startswith(f"teacher: no model folder at '{spec}' that this app may")


def test_a_symlink_inside_the_root_pointing_outside_is_refused(root, small_teacher_dir):
    link = root / "sneaky"
    os.symlink(small_teacher_dir, link)
    with pytest.raises(InputError, match="that this app may read"):
        app_paths.require_shared_model(str(link), "teacher", root)
    data_link = root / "uploads" / "passwd.txt"
    os.symlink("/etc/passwd", data_link)
    with pytest.raises(InputError, match="no data file at .* that this app may read"):
        app_paths.require_shared_data(str(data_link), root)


def test_data_only_from_the_runs_root_and_data_dirs(root, tmp_path):
    upload = root / "uploads" / "abc-stories.txt"
    upload.write_text("one\n\ntwo\n")
    app_paths.require_shared_data(str(upload), root)
    app_paths.require_shared_data("tinytales", root)
    app_paths.require_shared_data("roneneldan/TinyStories", root)  # a hub id, not a path
    other = tmp_path / "data" / "stories.txt"
    other.parent.mkdir()
    other.write_text("one\n\ntwo\n")
    for spec in (str(other), "/etc/passwd", "../../../etc/hosts.txt", "~/.bashrc"):
        with pytest.raises(InputError, match="that this app may read"):
            app_paths.require_shared_data(spec, root)
    app_paths.require_shared_data(str(other), root, Limits(data_dirs=(str(other.parent),)))


def test_the_launch_check_refuses_outside_paths_first(root, small_teacher_dir):
    for fields, words in ((dict(teacher="/etc"), "teacher: no model folder at '/etc'"),
                          (dict(student=str(small_teacher_dir)), "student: no model folder"),
                          (dict(dataset="/etc/passwd"), "no data file at '/etc/passwd'")):
        with pytest.raises(InputError, match=words):
            launch.check_before_launch(DistillConfig(**fields, runs_dir=str(root)))
