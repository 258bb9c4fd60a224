"""Presets: each is a valid run setting and lands every page's widgets on it."""

import pytest

from distill_core import InputError
from distill_core.app import presets
from distill_core.config import DistillConfig
from distill_core.kd.explore import TEMPERATURES


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_is_a_valid_config(name):
    p = presets.get(name)
    config = DistillConfig(alpha=p.alpha, temperature=p.temperature, loss=p.loss)
    assert (config.alpha, config.temperature, config.loss) == (p.alpha, p.temperature, p.loss)


def test_the_named_settings_are_what_their_names_say():
    by_key = {p.key: p for p in presets.PRESETS.values()}
    assert (by_key["hinton"].temperature, by_key["hinton"].alpha) == (4.0, 0.9)
    assert by_key["no_teacher"].alpha == 0.0 and by_key["pure"].alpha == 1.0
    assert by_key["too_hot"].temperature == 20.0 and by_key["reverse_kl"].loss == "reverse_kl"


def test_widget_values_use_each_pages_keys():
    assert presets.widget_values("reverse KL", "distill") == {
        "cfg_alpha": 0.9, "cfg_temperature": 1.0, "cfg_loss": "reverse_kl"}
    assert presets.widget_values("reverse KL", "soft_labels") == {
        "alpha": 0.9, "temperature": 1.0, "kl_direction": "reverse_kl"}
    assert presets.widget_values("too hot (T = 20)", "lesson") == {
        "lesson_alpha": 0.9, "lesson_temperature": 20.0}


def test_explorer_temperatures_are_stops_of_its_slider():
    for name in presets.PRESETS:
        assert presets.widget_values(name, "soft_labels")["temperature"] in TEMPERATURES
    assert presets.nearest_temperature(3.0) == 3.2  # log-nearest of 2.5 and 3.2
    assert presets.nearest_temperature(1000) == 20.0


def test_an_unknown_preset_is_one_line():
    with pytest.raises(InputError, match="no preset named 'lukewarm'; choose one of: Hinton"):
        presets.get("lukewarm")


def test_a_short_run_evaluates_a_few_times_after_a_short_warmup():
    config = presets.short_run(150, student="builtin:tiny")
    assert (config.steps, config.eval_every, config.warmup) == (150, 50, 30)
    assert config.student == "builtin:tiny"
    config = presets.short_run(60, evals=4, eval_blocks=32)
    assert (config.eval_every, config.warmup, config.eval_blocks) == (15, 12, 32)
    assert presets.short_run(2).eval_every == 1


def test_a_shared_value_is_fitted_to_the_sliders():
    assert presets.nearest_alpha(0.9) == 0.9 and presets.nearest_alpha(0.33) == 0.35
    assert presets.FIT_TO_SLIDERS["temperature"](3.0) == 3.2
