"""The runs the pages offer to pick: finished students of a teacher, runs with probes."""

from distill_core.app import picks
from distill_core.store.runs import Run
from distill_core.training import probes


def make(root, state, teacher="builtin:teacher", student_saved=True):
    run = Run.create(root, {"teacher": teacher, "student": "builtin:tiny"})
    if student_saved:
        run.student_dir.mkdir(parents=True)
    run.set_status(state)
    return run


def test_trained_students_of_one_teacher(tmp_path):
    ok = make(tmp_path, "done")
    make(tmp_path, "done", teacher="builtin:teacher-early")
    make(tmp_path, "done", student_saved=False)
    make(tmp_path, "running")
    assert picks.trained_students("builtin:teacher", tmp_path) == {
        f"trained in run {ok.id}": str(ok.student_dir)}


def test_probed_runs(tmp_path):
    probed, _ = make(tmp_path, "done"), make(tmp_path, "done")
    (probed.path / probes.FILE).write_text("")
    assert [r["id"] for r in picks.probed_runs(tmp_path)] == [probed.id]
