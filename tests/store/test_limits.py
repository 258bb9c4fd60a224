"""The classroom limits: defaults, a classroom.toml in the runs root, env vars over the file."""

import os
from pathlib import Path

import pytest

from distill_core.errors import InputError
from distill_core.policy import (Limits, check_hub, check_model_params, check_steps,
                                 default_concurrency)
from distill_core.store.limits import CONFIG_ENV, config_path, load_limits

ROOT = Path(__file__).resolve().parents[2]

ENV = ("DISTILL_CLASSROOM_CONFIG", "DISTILL_MAX_CONCURRENT", "DISTILL_MAX_QUEUED_PER_SESSION",
       "DISTILL_MAX_WAITING", "DISTILL_MAX_STEPS", "DISTILL_MAX_MODEL_PARAMS",
       "DISTILL_MAX_MEMORY_GB", "DISTILL_MAX_DATA_MB", "DISTILL_MODEL_DIRS", "DISTILL_DATA_DIRS",
       "DISTILL_ALLOW_HUB", "DISTILL_MAX_TOGETHER")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_suit_one_person(tmp_path):
    limits = load_limits(tmp_path)
    assert limits == Limits()
    assert limits.max_concurrent == max(1, os.cpu_count() // 2) == default_concurrency()
    assert (limits.max_steps, limits.max_model_params, limits.max_memory_gb) == (None, None, None)
    assert limits.max_queued_per_session == 3 and limits.max_data_mb == 50


def test_file_in_the_runs_root_then_env_vars_over_it(tmp_path, monkeypatch):
    (tmp_path / "classroom.toml").write_text(
        'max_concurrent = 3\nmax_steps = 2000\nmax_model_params = "50M"\n'
        'model_dirs = ["/srv/models", "~/shared"]\nmax_memory_gb = 1.5\n')
    limits = load_limits(tmp_path)
    assert (limits.max_concurrent, limits.max_steps, limits.max_model_params) == (3, 2000,
                                                                                   50_000_000)
    assert limits.model_dirs == ("/srv/models", os.path.expanduser("~/shared"))
    assert limits.max_memory_gb == 1.5
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    monkeypatch.setenv("DISTILL_MAX_MODEL_PARAMS", "1.5B")
    monkeypatch.setenv("DISTILL_DATA_DIRS", os.pathsep.join(["/a", "/b"]))
    limits = load_limits(tmp_path)
    assert (limits.max_concurrent, limits.max_model_params) == (1, 1_500_000_000)
    assert limits.data_dirs == ("/a", "/b") and limits.max_steps == 2000


def test_a_file_named_by_env_var(tmp_path, monkeypatch):
    path = tmp_path / "class.toml"
    path.write_text("max_queued_per_session = 1\n")
    monkeypatch.setenv("DISTILL_CLASSROOM_CONFIG", str(path))
    assert config_path(tmp_path / "elsewhere") == path
    assert load_limits(tmp_path / "elsewhere").max_queued_per_session == 1
    monkeypatch.setenv("DISTILL_CLASSROOM_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(InputError, match="does not exist"):
        load_limits()


@pytest.mark.parametrize("text, words", [
    ("max_concurent = 2\n", "did you mean 'max_concurrent'"),
    ("max_concurrent = 0\n", "max_concurrent in .* must be a whole number of at least 1"),
    ("max_steps = 2.5\n", "whole number"),
    ("max_memory_gb = -1\n", "number of GB above 0"),
    ("model_dirs = 3\n", "list of folders"),
    ("max_steps = \n", "not valid TOML"),
])
def test_mistakes_in_the_file_are_one_clear_line(tmp_path, text, words):
    (tmp_path / "classroom.toml").write_text(text)
    with pytest.raises(InputError, match=words) as err:
        load_limits(tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name, value", [("DISTILL_MAX_CONCURRENT", "two"),
                                         ("DISTILL_MAX_STEPS", "10k"),  # suffixes: params only
                                         ("DISTILL_MAX_DATA_MB", "0")])
def test_mistakes_in_env_vars_name_the_variable(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=name):
        load_limits(tmp_path)


def test_checks_say_the_limit_and_where_it_is_set():
    limits = Limits(max_steps=100, max_model_params=1000)
    check_steps(100, limits)
    with pytest.raises(InputError, match=r"steps 101 is over .* limit of 100 .*DISTILL_MAX_STEPS"):
        check_steps(101, limits)
    check_model_params(1000, "m", limits)
    with pytest.raises(InputError, match=r"'m' has 1,001 parameters.*DISTILL_MAX_MODEL_PARAMS"):
        check_model_params(1001, "m", limits)
    check_steps(10**6, Limits())  # no limit by default


def test_allow_hub_is_on_by_default_and_switched_off_by_file_or_env(tmp_path, monkeypatch):
    assert load_limits(tmp_path).allow_hub is True
    (tmp_path / "classroom.toml").write_text("allow_hub = false\n")
    assert load_limits(tmp_path).allow_hub is False
    monkeypatch.setenv("DISTILL_ALLOW_HUB", "on")  # a variable that is set wins over the file
    assert load_limits(tmp_path).allow_hub is True
    for text, value in (("0", False), ("No", False), ("true", True), (" 1 ", True)):
        monkeypatch.setenv("DISTILL_ALLOW_HUB", text)
        assert load_limits(tmp_path).allow_hub is value
    monkeypatch.setenv("DISTILL_ALLOW_HUB", "maybe")
    with pytest.raises(InputError, match="DISTILL_ALLOW_HUB must be on or off"):
        load_limits(tmp_path)
    monkeypatch.delenv("DISTILL_ALLOW_HUB")
    (tmp_path / "classroom.toml").write_text("allow_hub = 2\n")
    with pytest.raises(InputError, match="allow_hub in .* must be on or off") as err:
        load_limits(tmp_path)
    assert "\n" not in str(err.value)


def test_check_hub_refuses_in_one_line_only_when_off():
    check_hub("org/model", "model", Limits())
    with pytest.raises(InputError, match=r"'org/model' is on the Hugging Face hub.*"
                                         r"DISTILL_ALLOW_HUB is off") as err:
        check_hub("org/model", "model", Limits(allow_hub=False))
    assert "\n" not in str(err.value)


def test_the_class_server_file_loads_one_run_per_core(tmp_path, monkeypatch):
    """docs/classroom.toml, the file docs/hosting.md gives a class server (and the classroom
    load bench uses), is valid: one run per core, 16 side by side, no hub."""
    monkeypatch.setenv(CONFIG_ENV, str(ROOT / "docs" / "classroom.toml"))
    limits = load_limits(tmp_path)
    assert limits.max_concurrent == (os.cpu_count() or 1)
    assert (limits.max_together, limits.allow_hub, limits.max_steps) == (16, False, 2000)
    assert limits.max_model_params == 50_000_000
