"""The readouts the pages show: labels, units and formats, from known numbers."""

from distill_core.app import metric_rows

READOUTS = {"teacher_entropy": 1.23456, "teacher_choices": 3436.5, "student_entropy": 2.0,
            "student_choices": 7.389, "hard_label": "␣milk", "hard_label_teacher_prob": 0.41234,
            "kl_teacher_student": 0.123456, "kl_student_teacher": 0.2, "kd_term": 0.5,
            "ce_term": 1.25, "total": 1.75}


def shown(rows):
    return {m.label: m.value for m in rows}


def test_the_explorers_readouts_four_to_a_row_loss_last():
    rows = metric_rows.explorer(READOUTS)
    assert [m.label for m in rows[:4]] == ["Teacher entropy", "Teacher: effective choices",
                                           "Student entropy", "Student: effective choices"]
    values = shown(rows)
    assert values["Teacher entropy"] == "1.235 nats"
    assert values["Teacher: effective choices"] == "3,436.5"
    assert values["Hard label"] == "␣milk" and values["Soft label on it"] == "0.412"
    assert values["KL(teacher‖student)"] == "0.1235 nats"
    assert values["Loss total"] == "1.7500 nats"
    assert [m.label for m in metric_rows.explorer(READOUTS, with_loss=False)] == \
        [m.label for m in rows[:8]]


def test_the_lessons_readouts():
    assert shown(metric_rows.loss_parts(READOUTS)) == {
        "KD part α·T²·D": "0.500 nats", "CE part (1−α)·CE": "1.250 nats", "Total": "1.750 nats"}
    view = {"tokens": ["␣milk", "␣tea"], "teacher": [0.4123, 0.2], "choices": 5.55,
            "entropy": 1.714}
    rows = metric_rows.hard_and_soft(view)
    assert shown(rows) == {"Hard label": "␣milk", "Soft label on it": "0.412",
                           "Effective choices": "5.5"}
    assert rows[2].help == "e^entropy; entropy 1.714 nats"
    teachers = {"teacher_ppl": 5.1234, "early_ppl": 9.0, "agreement": 0.6789, "kl": 0.4321}
    assert shown(metric_rows.two_teachers(teachers))["Same top token"] == "67.9 %"


def test_model_sizes_and_facts_carry_their_shape_below():
    model = {"parameters": 1234567, "layers": 4, "width": 256, "size_mb": 4.94}
    rows = metric_rows.model_sizes({"teacher": model, "student": {**model, "parameters": 617283},
                                    "times_smaller": 2.0})
    assert [(m.label, m.value) for m in rows] == [("Teacher parameters", "1,234,567"),
                                                  ("Student parameters", "617,283"),
                                                  ("Capacity gap", "2.0× fewer parameters")]
    assert rows[0].caption == "4 layers, width 256, 4.9 MB in fp32" and rows[2].caption is None
    facts = {"parameters": 10, "architecture": "GPT2LMHeadModel", "layers": 2, "width": 32,
             "heads": 2, "disk_mb": None, "size_mb": 0.5}
    (row,) = metric_rows.model_facts({"Student": facts})
    assert row.label == "Student parameters" and row.caption.endswith("not saved yet (0.5 MB in fp32)")
    (row,) = metric_rows.model_facts({"Teacher": {**facts, "disk_mb": 1.25}})
    assert row.caption.endswith("1.2 MB on disk (safetensors)")


def test_training_loss_shows_only_the_parts_a_record_has():
    assert shown(metric_rows.training_loss({"step": 3, "loss": 2.5, "kd": 1.0, "ce": None})) == {
        "total loss (nats/token)": "2.500", "KD (nats/token)": "1.000"}
