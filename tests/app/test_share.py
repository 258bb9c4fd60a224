"""URL state: encode/decode round trips, and a bad value is reported and left out."""

from distill_core.app import share

STATE = {"teacher": "builtin:teacher", "student": "builtin:tiny", "prompt": "The sky was",
         "temperature": 4.0, "alpha": 0.9, "loss": "reverse_kl",
         "runs": ["20260101-000000-a", "20260101-000001-b"], "present": True, "lesson": 2}


def test_round_trip():
    params = share.encode(STATE)
    assert params == {"teacher": "builtin:teacher", "student": "builtin:tiny",
                      "prompt": "The sky was", "T": "4", "alpha": "0.9", "loss": "reverse_kl",
                      "runs": "20260101-000000-a,20260101-000001-b", "present": "1", "step": "2"}
    assert all(isinstance(v, str) for v in params.values())
    assert share.decode(params) == (STATE, [])


def test_empty_and_unknown_things_are_skipped():
    assert share.encode({"temperature": None, "runs": [], "prompt": "", "other": 3}) == {}
    assert share.decode({"run": "x", "utm_source": "mail"}) == ({}, [])


def test_bad_values_are_reported_in_one_line_each_and_dropped():
    state, problems = share.decode({"T": "hot", "alpha": "1.5", "loss": "l2", "present": "maybe",
                                    "runs": "../etc", "step": "0", "prompt": "Once"})
    assert state == {"prompt": "Once"}
    assert len(problems) == 6 and all("\n" not in p for p in problems)
    assert "The link's T was ignored: T must be a number at least 0.05 and at most 100 " \
        "(got 'hot')" in problems
    assert any(p.startswith("The link's alpha was ignored") and "1.5" in p for p in problems)
    assert any("forward_kl, reverse_kl, jsd, tvd, skew_kl" in p for p in problems)


def test_edges_of_the_ranges():
    assert share.decode({"T": "0"})[0] == {}
    assert share.decode({"T": "100", "alpha": "0"})[0] == {"temperature": 100.0, "alpha": 0.0}
    assert share.decode({"T": "nan"})[0] == {} and share.decode({"T": "inf"})[0] == {}
    assert share.decode({"prompt": "x" * 501})[0] == {}
    assert share.decode({"loss": "Reverse_KL"})[0] == {"loss": "reverse_kl"}
    assert share.decode({"present": "0"})[0] == {"present": False}


def test_a_repeated_parameter_counts_its_last_value():
    assert share.decode({"T": ["2", "8"]})[0] == {"temperature": 8.0}


def test_a_links_numbers_are_held_to_the_configs_own_bounds():
    from distill_core.config import DistillConfig

    bounds = DistillConfig.field_bounds()
    assert bounds["temperature"] == (0.05, 100.0, False) and bounds["alpha"] == (0.0, 1.0, False)
    assert bounds["warmup"] == (0, None, False) and "teacher" not in bounds
    assert share.BOUNDS == bounds


def test_a_step_in_other_digits_is_a_problem_not_a_traceback():
    # "²".isdigit() is true and int("²") raises ValueError: it broke every page of the app
    for text in ("²", "١", "3²", "9" * 5000, "+2", " 2 "):
        state, problems = share.decode({"step": text, "T": "0.01"})
        assert "lesson" not in state or (text == " 2 " and state["lesson"] == 2)
        assert all("\n" not in p for p in problems)
    assert share.decode({"step": "²"})[1] == \
        ["The link's step was ignored: step must be a whole number from 1 to 99 (got '²')"]
    assert share.decode({"T": "0.01"})[0] == {}  # below the runs' 0.05: what a run allows


def test_with_the_servers_limits_a_links_models_pass_the_app_checks(tmp_path, monkeypatch):
    from distill_core.policy import Limits

    monkeypatch.setenv("DISTILL_RUNS_DIR", str(tmp_path / "runs"))
    params = {"teacher": "some-org/any-model", "student": "builtin:tiny", "T": "4"}
    assert share.decode(params, Limits())[0]["teacher"] == "some-org/any-model"
    state, problems = share.decode(params, Limits(allow_hub=False))
    assert state == {"student": "builtin:tiny", "temperature": 4.0}
    assert problems == ["The link's teacher was ignored: teacher 'some-org/any-model' is on the "
                        "Hugging Face hub, and this server does not fetch from the hub "
                        "(DISTILL_ALLOW_HUB is off): pick a built-in one or a local folder "
                        "this app shares"]
    state, problems = share.decode({"teacher": "/etc", "student": "a\tb"}, Limits())
    assert state == {} and len(problems) == 2
    assert "that this app may read" in problems[0] and "control characters" in problems[1]
