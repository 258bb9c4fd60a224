"""The Loss conventions page, driven by AppTest on the built-in pair: ours and all five tools."""

import math

import pytest

from distill_core.app.conventions import TOOLS


@pytest.fixture
def page(runs_dir, open_page):
    at = open_page("conventions")
    assert not at.exception and not at.error
    return at


def table(at):
    return at.dataframe[0].value


def test_ours_and_all_five_tools_on_one_prompt(page):
    df = table(page)
    assert list(df.index) == ["ours", *TOOLS] and len(TOOLS) == 5
    assert all(math.isfinite(v) for v in df["total"])
    # forward KL at T = 2, alpha 0.5: DistillKit and Axolotl scale by T^2 and mix CE as we do,
    # GKD's loss is at T = 1 with no CE, Liger has no T^2
    assert df.loc["DistillKit", "total"] == pytest.approx(df.loc["ours", "total"], abs=1e-4)
    assert abs(df.loc["TRL GKDTrainer", "total - ours"]) > 1e-3
    assert abs(df.loc["Liger fused JSD", "total - ours"]) > 1e-3
    assert df.loc["TRL DistillationTrainer", "divergence"] == pytest.approx(
        df.loc["ours", "divergence"], abs=1e-4)


def test_jsd_at_beta_0_is_refused_by_us_and_forward_kl_elsewhere(page):
    page.selectbox(key="conv_kind").set_value("jsd")
    page.slider(key="conv_beta").set_value(0.0)
    page.run()
    assert not page.exception
    assert "refuses" in page.warning[0].value
    df = table(page)
    assert math.isnan(df.loc["ours", "divergence"])
    for tool in TOOLS:
        assert math.isfinite(df.loc[tool, "total"]), tool


def test_an_empty_prompt_is_one_clean_line(page):
    page.text_input(key="conv_prompt").set_value("")
    page.run()
    assert not page.exception and "prompt is empty" in page.error[0].value
