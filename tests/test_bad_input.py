"""Every kind of bad input from issue 6, items 1 and 2: on the command line one line on stderr
and exit code 2, in the app an st.error; never a traceback, and nothing is started.

Cases covered elsewhere: an empty or too long prompt (tests/test_explore.py and
tests/pages/test_soft_labels.py), remote code never run (tests/test_models.py), upload names,
caps and encodings in detail (tests/test_uploads.py), paths the app shares
(tests/test_app_paths.py).
"""

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from distill_core.cli import main
from distill_core.store.runs import Run, list_runs

APP = str(Path(__file__).resolve().parents[1] / "app.py")
BUILTIN_TEACHER = Path(__file__).resolve().parents[1] / "assets" / "builtin" / "teacher"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
STORIES = "Tom saw a red ball.\n\nLily went to the park with her dog.\n\nThe sun was warm.\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("DISTILL_MAX_MEMORY_GB", "DISTILL_MAX_MODEL_PARAMS", "DISTILL_MAX_DATA_MB",
                 "DISTILL_MAX_STEPS", "DISTILL_MAX_QUEUED_PER_SESSION", "DISTILL_MODEL_DIRS",
                 "DISTILL_DATA_DIRS", "DISTILL_CLASSROOM_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_teacher_dir):
    """Bad data files and bad model folders, made once."""
    d = tmp_path_factory.mktemp("bad")
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.txt").write_bytes(b"  \n\n \n")
    (d / "image.txt").write_bytes(PNG)  # a PNG renamed to .txt
    (d / "paper.txt").write_bytes(PDF)  # a PDF renamed to .txt
    (d / "latin1.txt").write_bytes("Café au lait.\n\nCrème brûlée.\n".encode("latin-1"))
    (d / "big.txt").write_text(STORIES * 40)  # ~4 kB
    (d / "story.jsonl").write_text("\n".join(json.dumps({"story": s})
                                             for s in STORIES.split("\n\n")))
    (d / "story.csv").write_text("id,story\n1,Tom saw a ball.\n2,Lily ran.\n")
    (d / "slides.pdf").write_bytes(PDF)
    pickles = d / "pickle-model"
    pickles.mkdir()
    shutil.copy(small_teacher_dir / "config.json", pickles)
    (pickles / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    huge = d / "huge-model"  # a header saying 10^12 float32 parameters, no data behind it
    huge.mkdir()
    shutil.copy(small_teacher_dir / "config.json", huge)
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**6, 10**6],
                               "data_offsets": [0, 4 * 10**12]}}).encode()
    (huge / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    return d


# ---------------------------------------------------------------------------------------------
# The command line


def _cli(teacher, runs, *flags):
    return ["run", "--teacher", str(teacher), "--student", "builtin:half", "--train-docs", "100",
            "--steps", "2", "--batch-size", "2", "--seq-len", "32", "--warmup", "0",
            "--eval-blocks", "2", "--runs-dir", str(runs), "--quiet", *flags]


def _one_line_exit_2(capsys, argv, words):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert words in err, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err


CLI_CASES = [  # (flags, words): item 1
    (["--student", "builtin:tinny"], "unknown built-in model 'builtin:tinny'"),
    (["--student", "distilbert/distilgtp2"], "not in the local Hugging Face cache"),
    (["--student", "not a model!"], "is not a valid model id"),
    (["--student", "./no/such/folder"], "no model folder at './no/such/folder'"),
    # tokenizers that differ train across them (tests/training/test_cross_tokenizer_training.py)
    # but not from a teacher cache
    (["--student", str(BUILTIN_TEACHER), "--teacher-cache"], "tokenizers differ"),
    (["--alpha", "1.5"], "alpha must be between 0 and 1"),
    (["--alpha", "-0.1"], "alpha must be between 0 and 1"),
    (["--temperature", "0"], "temperature must be between 0.05 and 100"),
    (["--temperature", "-1"], "temperature must be between 0.05 and 100"),
    (["--temperature", "1e-40"], "temperature must be between 0.05 and 100"),
    (["--temperature", "inf"], "temperature must be a finite number"),
    (["--temperature", "nan"], "temperature must be a finite number"),
    (["--steps", "0"], "steps must be between 1 and 1,000,000"),
    (["--steps", "2000000"], "steps must be between 1 and 1,000,000"),
    (["--batch-size", "0"], "batch_size must be between 1 and 4,096"),
    (["--batch-size", "5000"], "batch_size must be between 1 and 4,096"),
    (["--seq-len", "4"], "seq_len must be between 8 and 8,192"),
    (["--seq-len", "9000"], "seq_len must be between 8 and 8,192"),
    (["--seq-len", "128"], "longer than the teacher's context of 64 tokens"),
    (["--run-id", "../escape"], "run id '../escape' is not valid"),  # item 2
    (["--run-id", "/tmp/escape"], "run id '/tmp/escape' is not valid"),
    (["--name", "../escape"], "name must be"),
    (["--name", "/etc/passwd"], "name must be"),
]


@pytest.mark.parametrize("flags, words", CLI_CASES)
def test_cli_bad_settings(small_teacher_dir, tmp_path, capsys, flags, words):
    _one_line_exit_2(capsys, _cli(small_teacher_dir, tmp_path / "runs", *flags), words)
    assert not (tmp_path / "runs").exists() or all(
        r["state"] == "failed" for r in list_runs(tmp_path / "runs"))  # nothing trained


@pytest.mark.parametrize("name, flags, words", [
    ("empty.txt", [], "is empty"),
    ("blank.txt", [], "has no documents"),
    ("image.txt", [], "looks binary"),
    ("paper.txt", [], "is not valid UTF-8"),
    ("latin1.txt", [], "is not valid UTF-8 (bad byte at offset 3)"),
    ("story.jsonl", [], "has no column 'text'; its columns are story"),
    ("story.csv", ["--text-column", "body"], "has no column 'body'; its columns are id, story"),
    ("slides.pdf", [], "unsupported file type '.pdf'"),
    ("missing.txt", [], "no such file"),
])
def test_cli_bad_data_files(small_teacher_dir, files, tmp_path, capsys, name, flags, words):
    _one_line_exit_2(capsys, _cli(small_teacher_dir, tmp_path, "--dataset", str(files / name),
                                  *flags), words)


def test_cli_data_file_over_the_configured_cap(small_teacher_dir, files, tmp_path, capsys,
                                               monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_DATA_MB", "0.001")  # 1 kB
    _one_line_exit_2(capsys, _cli(small_teacher_dir, tmp_path, "--dataset",
                                  str(files / "big.txt")),
                     "over the cap of 0.001 MB: use a smaller file (the cap is "
                     "DISTILL_MAX_DATA_MB)")


def test_cli_models_too_large(small_teacher_dir, files, tmp_path, capsys, monkeypatch):
    _one_line_exit_2(capsys, _cli(files / "huge-model", tmp_path),
                     "(1,000,000,000,000 parameters) needs ~4,000.0 GB, ")
    monkeypatch.setenv("DISTILL_MAX_MEMORY_GB", "0.0001")
    _one_line_exit_2(capsys, _cli(small_teacher_dir, tmp_path),
                     "available (this server's limit, DISTILL_MAX_MEMORY_GB)")
    monkeypatch.delenv("DISTILL_MAX_MEMORY_GB")
    monkeypatch.setenv("DISTILL_MAX_MODEL_PARAMS", "1k")
    _one_line_exit_2(capsys, _cli(small_teacher_dir, tmp_path),
                     "over this server's limit of 1,000 (DISTILL_MAX_MODEL_PARAMS)")


def test_cli_pickle_only_model_is_refused(files, tmp_path, capsys):
    _one_line_exit_2(capsys, _cli(files / "pickle-model", tmp_path),
                     "has only pickle weights (pytorch_model.bin)")


@pytest.mark.parametrize("argv", [["show", "../etc"], ["show", "/etc"], ["compare", "../x"],
                                  ["export", "../../x", "out"]])
def test_cli_run_ids_with_paths(tmp_path, capsys, argv):
    _one_line_exit_2(capsys, [*argv, "--runs-dir", str(tmp_path)], "is not valid")


# ---------------------------------------------------------------------------------------------
# The app (Distill page)

TINY = {"steps": 2, "seq_len": 32, "batch_size": 2, "warmup": 0, "eval_every": 0,
        "eval_blocks": 2}


@pytest.fixture
def app_runs(tmp_path, monkeypatch, small_teacher_dir, files):
    root = tmp_path / "runs"
    monkeypatch.setenv("DISTILL_RUNS_DIR", str(root))
    monkeypatch.setenv("DISTILL_MODEL_DIRS", os.pathsep.join([str(small_teacher_dir),
                                                              str(files / "pickle-model"),
                                                              str(files / "huge-model")]))
    return root


def distill_page(query=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/distill.py")
    at.query_params.update(query or {})
    return at.run()


def start(at: AppTest, teacher, source="built-in corpus", upload=None, **fields) -> AppTest:
    if source != "built-in corpus":
        at.radio(key="data_source").set_value(source).run()
    at.text_input(key="cfg_teacher").set_value(str(teacher))
    for name, value in {**TINY, **fields}.items():
        at.get_by_key(f"cfg_{name}").set_value(value)
    if upload is not None:
        at.file_uploader(key="upload").set_value(upload)
    return at.button(key="start").click().run()


def assert_refused(at: AppTest, root: Path, words: str) -> None:
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(words in e for e in errors), errors
    assert all("\n" not in e for e in errors)
    assert list_runs(root) == [] and "run" not in at.session_state


@pytest.mark.parametrize("fields, words", [  # item 1
    (dict(student="builtin:tinny"), "unknown built-in model 'builtin:tinny'"),
    (dict(student="distilbert/distilgtp2"), "not in the local Hugging Face cache"),
    (dict(student="not a model!"), "is not a valid model id"),
    (dict(student=str(BUILTIN_TEACHER), teacher_cache=True), "tokenizers differ"),
    (dict(seq_len=128), "longer than the teacher's context of 64 tokens"),
    (dict(name="../escape"), "name must be"),  # item 2
    (dict(name="/etc/passwd"), "name must be"),
    (dict(teacher="/etc"), "teacher: no model folder at '/etc' that this app may read"),
    (dict(teacher="../../.."), "no model folder at '../../..' that this app may read"),
    (dict(student="~"), "student: no model folder at '~' that this app may read"),
])
def test_app_bad_settings(app_runs, small_teacher_dir, fields, words):
    fields = dict(fields)
    teacher = fields.pop("teacher", small_teacher_dir)
    assert_refused(start(distill_page(), teacher, **fields), app_runs, words)


def test_app_models_too_large(app_runs, small_teacher_dir, files, monkeypatch):
    assert_refused(start(distill_page(), files / "huge-model"), app_runs, "needs ~")
    monkeypatch.setenv("DISTILL_MAX_MEMORY_GB", "0.0001")
    assert_refused(start(distill_page(), small_teacher_dir), app_runs,
                   "available (this server's limit, DISTILL_MAX_MEMORY_GB)")
    monkeypatch.delenv("DISTILL_MAX_MEMORY_GB")
    monkeypatch.setenv("DISTILL_MAX_MODEL_PARAMS", "1000")
    assert_refused(start(distill_page(), small_teacher_dir), app_runs,
                   "over this server's limit of 1,000 (DISTILL_MAX_MODEL_PARAMS)")


def test_app_pickle_only_model_is_refused(app_runs, files):
    assert_refused(start(distill_page(), files / "pickle-model"), app_runs,
                   "has only pickle weights")


def test_app_steps_over_the_server_limit(app_runs, small_teacher_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_STEPS", "100")
    assert_refused(start(distill_page(), small_teacher_dir, steps=101), app_runs,
                   "steps 101 is over this server's limit of 100 steps per run")


@pytest.mark.parametrize("name, data, words", [
    ("stories.txt", b"", "is empty"),
    ("stories.txt", PNG, "looks binary"),
    ("paper.txt", PDF, "is not UTF-8 text"),
    ("stories.txt", "Café.\n\nThé.\n".encode("latin-1"), "is not UTF-8 text"),
    ("stories.jsonl", b'{"story": "Tom ran."}\n{"story": "Lily sat."}\n',
     "has no column 'text'; its columns are story"),
    ("stories.csv", b"id,story\n1,Tom ran.\n", "has no column 'text'; its columns are id, story"),
])  # (other suffixes, e.g. .pdf, the upload widget itself refuses; uploads.safe_name as well)
def test_app_bad_uploads(app_runs, small_teacher_dir, name, data, words):
    at = start(distill_page(), small_teacher_dir, "uploaded file", (name, data, "text/plain"))
    assert_refused(at, app_runs, words)


def test_app_upload_over_the_configured_cap(app_runs, small_teacher_dir, monkeypatch):
    monkeypatch.setenv("DISTILL_MAX_DATA_MB", "0.001")
    at = start(distill_page(), small_teacher_dir, "uploaded file",
               ("stories.txt", STORIES.encode() * 40, "text/plain"))
    assert_refused(at, app_runs, "over the upload limit of 0.001 MB")


def test_app_upload_names_with_paths_stay_in_the_uploads_folder(app_runs, small_teacher_dir):
    for name in ("../../etc/cron.d/evil.txt", "/etc/passwd.txt", "..\\..\\win.txt"):
        at = start(distill_page(), small_teacher_dir, "uploaded file",
                   (name, STORIES.encode(), "text/plain"), steps=1)
        assert not at.exception and not at.error, [e.value for e in at.error]
        dataset = Path(Run(app_runs, at.session_state["run"]).config()["dataset"])
        assert dataset.parent == app_runs / "uploads" and ".." not in dataset.name


@pytest.mark.parametrize("dataset, words", [
    ("/etc/passwd", "no data file at '/etc/passwd' that this app may read"),
    ("../../../etc/hosts.txt", "that this app may read"),
    ("~/.bashrc", "that this app may read"),
])
def test_app_data_paths_outside_the_shared_folders(app_runs, small_teacher_dir, dataset, words):
    at = start(distill_page(), small_teacher_dir, "Hugging Face dataset", dataset=dataset)
    assert_refused(at, app_runs, words)


@pytest.mark.parametrize("run_id", ["../../etc", "/etc/passwd", "..", "a/../../b"])
def test_app_run_ids_with_paths_in_the_url(app_runs, run_id):
    at = distill_page({"run": run_id})
    assert not at.exception
    assert any("is not valid" in e.value for e in at.error), [e.value for e in at.error]
    assert "run" not in at.query_params


@pytest.mark.parametrize("query, words", [({"alpha": "1.5"}, "alpha"), ({"T": "0"}, "T"),
                                          ({"T": "nan"}, "T")])
def test_app_links_with_values_out_of_range(app_runs, query, words):
    at = distill_page(query)
    assert not at.exception
    assert any(words in e.value and "ignored" in e.value for e in at.error), \
        [e.value for e in at.error]


@pytest.mark.parametrize("page", ["app_pages/soft_labels.py", "app_pages/pair.py"])
def test_app_links_naming_folders_outside_the_shared_ones(app_runs, page):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"teacher": "/etc"})
    at.run()  # the link is checked as it arrives, as the widgets' values are (model_policy)
    assert any("no model folder at '/etc' that this app may read" in e.value for e in at.error), \
        [e.value for e in at.error]
    at.switch_page(page).run()
    assert not at.exception
    assert at.session_state["teacher"] == "builtin:teacher"  # it never entered the session
