"""The checkpoint scrubber over a run with probes recorded as training went."""

import copy
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from distill_core.store.runs import Run
from distill_core.training import probes


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_teacher_dir):
    """A run whose student is moved towards the teacher step by step, probed each time."""
    root = tmp_path_factory.mktemp("runs")
    teacher = AutoModelForCausalLM.from_pretrained(small_teacher_dir)
    tokenizer = AutoTokenizer.from_pretrained(small_teacher_dir)
    start = copy.deepcopy(teacher)
    with torch.no_grad():
        for p in start.parameters():
            p.add_(torch.randn_like(p))
    run = Run.create(root, {"steps": 20})
    for step, mix in ((0, 0.0), (10, 0.6), (20, 0.95)):
        student = copy.deepcopy(start)
        with torch.no_grad():
            for s, t in zip(student.parameters(), teacher.parameters()):
                s.mul_(1 - mix).add_(mix * t)
        probes.record(run, step, student, teacher, tokenizer)
    run.set_status("done")
    return root, run


def test_the_slider_walks_the_recorded_steps(open_page, run):
    root, r = run
    at = open_page("scrubber", {"run": r.id}, runs=root)
    assert not at.exception and not at.error
    assert at.selectbox(key="scrub_run").value == r.id
    assert at.select_slider(key="scrub_step").options == ["0", "10", "20"]
    lines = probes.load(r)
    prompt = probes.PROMPTS[1]
    at.radio(key="scrub_prompt").set_value(prompt).run()
    kls = []
    for i, step in enumerate((0, 10, 20)):
        at.select_slider(key="scrub_step").set_value(step).run()
        bars = json.loads(at.get("plotly_chart")[0].proto.spec)
        assert f"step {step}" in bars["layout"]["title"]["text"]
        assert bars["data"][1]["y"][:-1] == pytest.approx(lines[i]["probes"][prompt]["student"])
        kls.append(lines[i]["probes"][prompt]["kl"])
    assert kls[0] > kls[1] > kls[2]  # the student's bars close in on the teacher's
    assert f"{kls[2]:.3f} nats" in at.metric[0].value


def test_an_unknown_run_in_the_link_is_one_error_line(open_page, run):
    root, _ = run
    at = open_page("scrubber", {"run": "no-such-run"}, runs=root)
    assert not at.exception
    assert "has no recorded probes" in at.error[0].value


def test_no_probes_yet(open_page, tmp_path, no_reference):
    at = open_page("scrubber", runs=tmp_path)
    assert not at.exception and "No run has recorded probes yet" in at.info[0].value
