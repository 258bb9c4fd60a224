"""The Sweep page over a real (tiny) finished sweep, and a launch with bad input."""

import json

import pytest

from distill_core.config import DistillConfig
from distill_core.store.runs import load_run
from distill_core.training import sweep


@pytest.fixture(scope="module")
def finished(tmp_path_factory, small_teacher_dir):
    root = tmp_path_factory.mktemp("runs")
    base = DistillConfig(teacher=str(small_teacher_dir), student="builtin:half", train_docs=100,
                         steps=2, batch_size=4, seq_len=32, warmup=0, eval_every=1,
                         eval_blocks=4, precision="fp32", runs_dir=str(root))
    sweep_id, cells = sweep.run_sweep(base, [0.0, 0.9], [1.0, 4.0], root)
    assert [c["state"] for c in cells] == ["done"] * 4
    return root, sweep_id, cells


def test_heatmap_of_a_finished_sweep_and_a_cells_curves(open_page, finished):
    root, sweep_id, cells = finished
    at = open_page("sweep", {"sweep": sweep_id}, runs=root)
    assert not at.exception and not at.error
    assert at.selectbox(key="sweep_id").value == sweep_id
    assert "4 of 4 cells done" in at.get("progress")[0].proto.text
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    by_cell = {(c["alpha"], c["temperature"]): c["student_ppl"] for c in cells}
    assert heat["z"] == [[by_cell[(0.0, 1.0)], by_cell[(0.0, 4.0)]],
                         [by_cell[(0.9, 1.0)], by_cell[(0.9, 4.0)]]]
    at.selectbox(key="sweep_metric").set_value("agreement").run()
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["z"][1][1] == pytest.approx(100 * cells[3]["agreement"])

    pick = cells[2]["run_id"]  # α = 0.9, T = 1
    at.selectbox(key="sweep_cell").set_value(pick).run()
    loss = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    assert loss["name"].startswith("α = 0.9, T = 1") and \
        loss["y"] == [r["loss"] for r in load_run(pick, root).metrics()]


def test_a_sweep_needs_an_alpha(open_page, tmp_path, no_reference):
    at = open_page("sweep", runs=tmp_path)
    assert "No sweep yet" in at.info[0].value
    at.multiselect(key="sweep_alphas").set_value([])
    at.button(key="sweep_launch").click().run()
    assert not at.exception
    assert "at least one alpha" in at.error[0].value
    assert sweep.list_sweeps(tmp_path) == []
