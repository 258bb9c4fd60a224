"""save_upload fuzzed: any file name and bytes are stored safely under <root>/uploads/ or
refused with one line (InputError), never a traceback. 500 generated uploads."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_core.app.uploads import UPLOAD_SUFFIXES, save_upload
from distill_core.errors import InputError

NAMES = st.one_of(st.text(max_size=40),
                  st.builds(lambda stem, suffix: stem + suffix, st.text(max_size=30),
                            st.sampled_from([*UPLOAD_SUFFIXES, ".TXT", ".exe", ".txt.exe", ""])),
                  st.sampled_from(["../../etc/passwd.txt", "..\\x.csv", ".hidden.jsonl", "/",
                                   "a/b/c.txt", "\x00.txt", "é" * 200 + ".txt"]))
DATA = st.one_of(st.binary(max_size=300),
                 st.text(max_size=300).map(lambda t: t.encode("utf-8")),
                 st.sampled_from([b"", b"\xff\xfe", b"text\nhello\n", b"\x00" * 10,
                                  "Once upon a time.\n".encode("utf-16")]))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-uploads")


@settings(max_examples=500, deadline=None, database=None)
@given(name=NAMES, data=DATA)
def test_any_upload_is_stored_inside_the_root_or_refused_in_one_line(root, name, data):
    try:
        path = save_upload(name, data, root, max_bytes=200)
    except InputError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert path.parent == root / "uploads" and path.read_bytes() == data
    assert path.suffix in UPLOAD_SUFFIXES and not path.name.startswith(".")
    assert len(data) <= 200
