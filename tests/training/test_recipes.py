"""Named recipes: DistillConfig files shipped in the package, one line each, started from by the
CLI (`distill recipes`, `distill run --recipe NAME`) and the app's Distill form."""

import fnmatch
import tomllib
from pathlib import Path

import pytest

from distill_core import models
from distill_core.app.presets import recipe_form_values
from distill_core.cli import main
from distill_core.config import DistillConfig
from distill_core.errors import InputError
from distill_core.store.runs import list_runs
from distill_core.training import recipes

SHIPPED = ("builtin-default", "classroom", "smollm2-cpu")
ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_recipes_say_in_one_line_what_they_are():
    about = recipes.describe_recipes()
    assert set(SHIPPED) <= set(about)
    for name, line in about.items():
        assert line and "\n" not in line and len(line) <= 160, name


@pytest.mark.parametrize("name", SHIPPED)
def test_a_recipe_is_a_plain_config_file(name):
    config = DistillConfig.load(recipes.recipe_path(name))  # what `distill run --config` reads
    assert recipes.load_recipe(name) == config
    fields = recipes.recipe_fields(name)
    assert fields and all(fields[k] == getattr(config, k) for k in fields)
    assert "runs_dir" not in fields  # a recipe says what to train, not where to keep it


def test_recipes_install_with_the_package():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = data["tool"]["setuptools"]["package-data"]["distill_core"]
    for path in recipes.RECIPES_DIR.glob("*.yaml"):
        inside = path.relative_to(ROOT / "distill_core").as_posix()
        assert any(fnmatch.fnmatch(inside, g) for g in globs), inside


def test_what_the_recipes_promise():
    default, classroom, cpu = (recipes.load_recipe(n) for n in SHIPPED)
    fresh = DistillConfig(baseline=True)  # `distill run --baseline`, the default run
    for field in recipes.recipe_fields("builtin-default"):  # the built-in pair's default run
        assert getattr(default, field) == getattr(fresh, field), field
    assert classroom.teacher == "builtin:teacher" and classroom.baseline
    # started from the teacher's layers, so a short run ends near the teacher (issue 23.6)
    assert classroom.student == "builtin:half" and classroom.steps * classroom.batch_size <= 1000
    assert (cpu.teacher, cpu.dataset, cpu.baseline) == ("smollm2-135m", "python-docs", True)
    assert cpu.student == models.PAIRS["smollm2-135m"].student  # the measured winner, both


def test_overrides_win_and_unknown_names_are_refused():
    assert recipes.load_recipe("classroom", steps=7, warmup=1).steps == 7
    for bad in ("nope", "../classroom", ""):
        with pytest.raises(InputError, match="no recipe named .*known: builtin-default"):
            recipes.recipe_path(bad)


def test_cli_lists_the_recipes_one_line_each(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name, line in recipes.describe_recipes().items():
        assert f"{name}  " in out and line in out


@pytest.mark.parametrize("args, words", [
    (["--recipe", "nope"], "no recipe named 'nope'"),
    (["--recipe", "classroom", "--config", "x.yaml"], "--recipe or --config")])
def test_cli_refuses_a_bad_recipe_in_one_line(args, words, capsys, tmp_path):
    assert main(["run", *args, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err


def test_cli_runs_a_recipe_with_flags_on_top(small_teacher_dir, tmp_path):
    runs = tmp_path / "runs"
    assert main(["run", "--recipe", "classroom", "--teacher", str(small_teacher_dir),
                 "--train-docs", "200", "--steps", "3", "--warmup", "1", "--batch-size", "4",
                 "--seq-len", "32", "--eval-blocks", "4", "--runs-dir", str(runs),
                 "--quiet"]) == 0
    (row,) = list_runs(runs)
    config = DistillConfig.load(runs / row["id"] / "config.json")
    classroom = recipes.load_recipe("classroom")
    assert (config.steps, config.batch_size, config.teacher) == (3, 4, str(small_teacher_dir))
    assert (config.student, config.alpha, config.baseline) == (
        classroom.student, classroom.alpha, True)  # the recipe's, where no flag says otherwise
    assert row["state"] == "done" and row["baseline_ppl"] is not None


def test_form_values_put_every_field_on_the_recipe():
    values = recipe_form_values("smollm2-cpu")
    cpu = recipes.load_recipe("smollm2-cpu")
    assert values["cfg_teacher"] == "smollm2-135m" and values["corpus"] == "python-docs"
    assert values["cfg_dataset"] == "" and values["cfg_name"] == ""
    assert (values["cfg_alpha"], values["cfg_steps"], values["cfg_baseline"]) == (
        cpu.alpha, cpu.steps, True)
    assert values["cfg_eval_every"] == cpu.eval_every
