"""Tests for distill_core.config: DistillConfig validation, files, help metadata."""

import dataclasses
import math

import pytest

from distill_core.config import DistillConfig, load
from distill_core.errors import InputError
from distill_core.kd.losses import KINDS


def refused(match_field: str, **kwargs) -> str:
    """Build a config from kwargs, expect InputError naming `match_field`; return the message."""
    with pytest.raises(InputError) as e:
        DistillConfig(**kwargs)
    msg = str(e.value)
    assert match_field in msg, msg
    assert "\n" not in msg, msg
    return msg


def custom() -> DistillConfig:
    """A config with many non-default values, for round trips."""
    return DistillConfig(teacher="gpt2", student="builtin:tiny", dataset="data/my.jsonl",
                         text_column="body", dataset_config="en", dataset_split="train[:10%]",
                         alpha=0.7, temperature=4.0, loss="jsd", beta=0.3, steps=1000,
                         batch_size=32, grad_accum=4, lr=3e-4, warmup=100, seed=123,
                         precision="bf16", baseline=True, name="run-1.v2")


def test_defaults_are_valid():
    c = DistillConfig()
    assert c.validate() is c
    assert (c.alpha, c.temperature, c.loss, c.steps) == (0.5, 2.0, "forward_kl", 150)
    assert c.micro_batch == 16
    assert list(c.to_dict()) == [f.name for f in dataclasses.fields(DistillConfig)]


def test_micro_batch():
    assert DistillConfig(batch_size=32, grad_accum=4).micro_batch == 8


def test_json_round_trip():
    c = custom()
    assert DistillConfig.from_json(c.to_json()) == c
    assert DistillConfig.from_dict(c.to_dict()) == c
    assert DistillConfig.from_json(DistillConfig().to_json()) == DistillConfig()


def test_yaml_round_trip():
    c = custom()
    assert DistillConfig.from_yaml(c.to_yaml()) == c
    assert DistillConfig.from_yaml(DistillConfig().to_yaml()) == DistillConfig()


@pytest.mark.parametrize("filename", ["c.json", "c.yaml", "c.yml"])
def test_file_round_trip(tmp_path, filename):
    c, path = custom(), tmp_path / filename
    text = c.to_json(path) if filename.endswith(".json") else c.to_yaml(path)
    assert path.read_text() == text
    assert DistillConfig.load(path) == c
    assert load(str(path)) == c


def test_from_json_and_from_yaml_read_files(tmp_path):
    c = custom()
    c.to_json(tmp_path / "c.json")
    c.to_yaml(tmp_path / "c.yaml")
    assert DistillConfig.from_json(str(tmp_path / "c.json")) == c
    assert DistillConfig.from_yaml(tmp_path / "c.yaml") == c


def test_values_are_normalised():
    c = DistillConfig.from_yaml("steps: 300.0\nlr: 1e-3\nalpha: 1\nname: ' run-1 '\n"
                                "teacher: ' gpt2 '\ndataset_config: ''\nloss: JSD\n")
    assert c.steps == 300 and type(c.steps) is int
    assert c.lr == 0.001 and type(c.lr) is float
    assert c.alpha == 1.0 and type(c.alpha) is float
    assert (c.name, c.teacher, c.dataset_config, c.loss) == ("run-1", "gpt2", None, "jsd")


def test_validate_catches_later_changes():
    c = DistillConfig()
    c.alpha = 2.0
    with pytest.raises(InputError, match="alpha"):
        c.validate()


def test_replace_returns_validated_copy():
    c = DistillConfig()
    d = c.replace(steps=10, warmup=5)
    assert (d.steps, d.warmup, c.steps) == (10, 5, 150)
    assert c.replace(steps=10).warmup_steps == 1  # unset: 10 % of the steps
    with pytest.raises(InputError, match="warmup must be between 0 and steps=10 .got 30."):
        c.replace(warmup=30).replace(steps=10)  # an explicit warmup 30 > 10
    with pytest.raises(InputError, match="did you mean 'alpha'"):
        c.replace(alpah=0.1)


ACCEPTED = [
    dict(alpha=0.0), dict(alpha=1.0),
    dict(temperature=0.05), dict(temperature=100.0),
    dict(steps=1, warmup=0), dict(steps=1_000_000),
    dict(batch_size=1), dict(batch_size=4096),
    dict(batch_size=1024, grad_accum=1024), dict(batch_size=16, grad_accum=16),
    dict(seq_len=8), dict(seq_len=8192),
    dict(lr=1e-9), dict(lr=1.0),
    dict(warmup=0), dict(warmup=150),
    dict(weight_decay=0.0), dict(weight_decay=1.0),
    dict(grad_clip=0.0), dict(grad_clip=1000.0),
    dict(eval_every=0), dict(eval_every=1_000_000),
    dict(eval_blocks=1), dict(eval_blocks=100_000),
    dict(checkpoint_every=0), dict(checkpoint_every=1_000_000),
    dict(seed=0), dict(seed=2**31 - 1),
    dict(train_docs=1), dict(train_docs=100), dict(train_docs=10_000_000),
    dict(beta=0.0), dict(beta=1.0),  # forward_kl ignores beta
    dict(loss="jsd", beta=0.01), dict(loss="jsd", beta=0.99),
    dict(loss="skew_kl", beta=0.0), dict(loss="skew_kl", beta=0.99),
    *[dict(loss=k) for k in KINDS],
    dict(precision="auto"), dict(precision="fp32"), dict(precision="bf16"),
    dict(name="a"), dict(name="a" * 64), dict(name="Run_2.v1-b"),
    dict(baseline=True),
    dict(warmup=None), dict(steps=20),  # unset warmup: 10 % of the steps, so any steps go
    dict(on_policy=0.0), dict(on_policy=1.0), dict(on_policy=0.5, alpha=1.0),
    dict(on_policy_temperature=0.1), dict(on_policy_prefix=1), dict(on_policy_prefix=127),
    dict(on_policy_prefix=None), dict(report_to="tensorboard"), dict(report_to="none"),
    dict(teacher_cache=True, on_policy_prefix=5),  # prefix alone is harmless
]


@pytest.mark.parametrize("kwargs", ACCEPTED, ids=str)
def test_accepted(kwargs):
    c = DistillConfig(**kwargs)
    for k, v in kwargs.items():
        assert getattr(c, k) == v


REFUSED = [
    ("alpha", dict(alpha=-0.01)), ("alpha", dict(alpha=1.01)),
    ("temperature", dict(temperature=0)), ("temperature", dict(temperature=-1)),
    ("temperature", dict(temperature=math.inf)), ("temperature", dict(temperature=math.nan)),
    ("temperature", dict(temperature=101)), ("temperature", dict(temperature=1e-40)),
    ("temperature", dict(temperature=0.049)),
    ("steps", dict(steps=0)), ("steps", dict(steps=1_000_001)),
    ("batch_size", dict(batch_size=0)), ("batch_size", dict(batch_size=4097)),
    ("grad_accum", dict(grad_accum=0)), ("grad_accum", dict(batch_size=2048, grad_accum=1025)),
    ("grad_accum", dict(batch_size=16, grad_accum=3)),
    ("seq_len", dict(seq_len=7)), ("seq_len", dict(seq_len=8193)),
    ("lr", dict(lr=0)), ("lr", dict(lr=1.01)), ("lr", dict(lr=math.nan)),
    ("warmup", dict(warmup=301)), ("warmup", dict(warmup=-1)),
    ("weight_decay", dict(weight_decay=-0.01)), ("weight_decay", dict(weight_decay=1.01)),
    ("grad_clip", dict(grad_clip=-1)), ("grad_clip", dict(grad_clip=1000.5)),
    ("eval_every", dict(eval_every=-1)), ("eval_blocks", dict(eval_blocks=0)),
    ("eval_blocks", dict(eval_blocks=100_001)), ("checkpoint_every", dict(checkpoint_every=-1)),
    ("seed", dict(seed=-1)), ("seed", dict(seed=2**31)),
    ("train_docs", dict(train_docs=0)), ("train_docs", dict(train_docs=10_000_001)),
    ("beta", dict(beta=-0.01)), ("beta", dict(beta=1.01)), ("beta", dict(beta=math.inf)),
    ("beta", dict(loss="skew_kl", beta=1.0)),
    ("loss", dict(loss="kl")), ("precision", dict(precision="fp16")),
    ("name", dict(name="../x")), ("name", dict(name="/abs")), ("name", dict(name="a/b")),
    ("name", dict(name="a..b")), ("name", dict(name="-x")), ("name", dict(name="a" * 65)),
    ("teacher", dict(teacher="")), ("student", dict(student="   ")),
    ("on_policy", dict(on_policy=-0.1)), ("on_policy", dict(on_policy=1.5)),
    ("on_policy", dict(on_policy=0.5, teacher_cache=True)),
    ("on_policy", dict(on_policy=0.5, alpha=0.0)),
    ("on_policy_temperature", dict(on_policy_temperature=0)),
    ("on_policy_temperature", dict(on_policy_temperature=1e-40)),
    ("on_policy", dict(on_policy=0.02)),  # 0.32 of a 16-sequence batch: no row at all
    ("on_policy", dict(on_policy=0.1, batch_size=4)),
    ("on_policy_prefix", dict(on_policy_prefix=0)),
    ("on_policy_prefix", dict(on_policy_prefix=128)),
    ("on_policy_prefix", dict(seq_len=16, on_policy_prefix=16)),
    ("report_to", dict(report_to="tensorbored")),
]


@pytest.mark.parametrize("field,kwargs", REFUSED, ids=str)
def test_refused(field, kwargs):
    msg = refused(field, **kwargs)
    assert "got" in msg


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_jsd_beta_at_the_ends_explains_why(beta):
    msg = refused("beta", loss="jsd", beta=beta)
    assert "always zero" in msg and "forward_kl" in msg


def test_warmup_is_ten_percent_of_the_steps_unless_set():
    assert DistillConfig().warmup is None and DistillConfig().warmup_steps == 15  # 150 steps
    assert [DistillConfig(steps=n).warmup_steps for n in (1, 4, 5, 20, 25, 1000)] == \
        [0, 0, 1, 2, 3, 100]  # rounded half up
    assert DistillConfig(steps=20, warmup=7).warmup_steps == 7
    assert DistillConfig(warmup="").warmup is None  # an empty form box
    assert DistillConfig.from_yaml(DistillConfig().to_yaml()).warmup is None


def test_on_policy_defaults_and_why_it_is_refused():
    c = DistillConfig()
    assert (c.on_policy, c.on_policy_temperature, c.on_policy_prefix) == (0.0, 1.0, None)
    assert c.on_policy_prefix_tokens == 64
    assert c.replace(on_policy_prefix=5).on_policy_prefix_tokens == 5
    assert "live teacher" in refused("on_policy", on_policy=0.5, teacher_cache=True)
    assert "alpha above 0" in refused("on_policy", on_policy=0.5, alpha=0.0)
    choices = {f["name"]: f["choices"] for f in c.fields_help()}["report_to"]
    assert c.report_to == "none" and {"tensorboard", "wandb", "all"} <= set(choices)


def test_messages_name_range_and_value():
    assert refused("alpha", alpha=1.5) == "alpha must be between 0 and 1 (got 1.5)"
    assert "1 to 1,000,000" in refused("steps", steps="10")
    msg = refused("grad_accum", batch_size=16, grad_accum=3)
    assert "batch_size=16" in msg and "grad_accum=3" in msg
    assert "finite" in refused("temperature", temperature=math.nan)


@pytest.mark.parametrize("field,value", [
    ("steps", "10"), ("steps", True), ("steps", 3.5), ("steps", None),
    ("baseline", "yes"), ("baseline", 1),
    ("alpha", "0.5"), ("alpha", False),
    ("teacher", 5), ("name", 3), ("dataset_split", ["train"]),
])
def test_wrong_types_refused(field, value):
    refused(field, **{field: value})


def test_unknown_key_suggests_close_match():
    with pytest.raises(InputError) as e:
        DistillConfig.from_dict({"alpah": 0.3})
    assert str(e.value) == "unknown config field 'alpah'; did you mean 'alpha'?"
    with pytest.raises(InputError, match="known fields: teacher, .*temperature"):
        DistillConfig.from_yaml("zzzzzz: 1\n")


def test_load_bad_extension(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("{}")
    with pytest.raises(InputError, match=r"\.json, \.yaml or \.yml"):
        DistillConfig.load(path)


@pytest.mark.parametrize("filename", ["missing.yaml", "missing.json"])
def test_load_missing_file(tmp_path, filename):
    with pytest.raises(InputError, match="not found"):
        DistillConfig.load(tmp_path / filename)


def test_load_broken_yaml_gives_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("alpha: 0.5\nsteps: [10\nlr: 0.1\n")
    with pytest.raises(InputError, match=r"invalid YAML in .*c\.yaml at line \d+") as e:
        DistillConfig.load(path)
    assert "\n" not in str(e.value)


def test_load_broken_json_gives_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n  "alpha": 0.5,\n}\n')
    with pytest.raises(InputError, match=r"invalid JSON in .*c\.json at line 3"):
        DistillConfig.load(path)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just text\n", ""])
def test_top_level_must_be_a_mapping(text):
    with pytest.raises(InputError, match="mapping"):
        DistillConfig.from_yaml(text)


def test_fields_help_covers_every_field():
    info = DistillConfig.fields_help()
    assert [f["name"] for f in info] == [f.name for f in dataclasses.fields(DistillConfig)]
    defaults = DistillConfig().to_dict()
    for f in info:
        assert f["help"].strip(), f["name"]
        assert f["default"] == defaults[f["name"]]
        assert f["type"] in ("int", "float", "str", "bool", "str | None", "int | None"), f
        if f["type"] in ("int", "float", "int | None"):
            assert f["range"], f["name"]
    by_name = {f["name"]: f for f in info}
    assert by_name["loss"]["choices"] == KINDS
    assert by_name["precision"]["choices"] == ("auto", "fp32", "bf16")
    assert by_name["alpha"]["range"] == "0 to 1"
    assert DistillConfig.__dataclass_fields__["alpha"].metadata["help"] == by_name["alpha"]["help"]


def test_temperature_range_is_one_rule_for_validation_cli_form_and_links():
    assert DistillConfig.field_bounds()["temperature"] == (0.05, 100.0, False)
    assert DistillConfig.field_bounds()["on_policy_temperature"] == (0.05, 100.0, False)
    assert refused("temperature", temperature=1e-40) == \
        "temperature must be between 0.05 and 100 (got 1e-40)"
    help_row = {f["name"]: f for f in DistillConfig.fields_help()}["temperature"]
    assert help_row["range"] == "0.05 to 100"


def test_on_policy_that_would_write_no_sequence_is_refused():
    msg = refused("on_policy", on_policy=0.02, batch_size=16)
    assert "rounds to 0 sequences" in msg and "at least 0.0313" in msg and "\n" not in msg
    # counted over the whole batch, not per micro-batch: 0.1 of 16 is 2 rows with grad_accum 4
    c = DistillConfig(on_policy=0.1, batch_size=16, grad_accum=4)
    assert c.micro_batch == 4 and c.on_policy == 0.1
    assert DistillConfig(on_policy=0.0313, batch_size=16).on_policy == 0.0313
