"""The Home page: the question, the path through the app, the built-in pair."""


def test_home_asks_the_question_and_links_the_path(open_page):
    at = open_page()
    assert not at.exception and not at.error
    assert "Can a student perform as well as its teacher?" in at.subheader[0].value
    assert "temperature" in at.markdown[0].value.lower()
    links = [link.proto.page for link in at.get("page_link")]
    for page in ("soft_labels", "distill", "compare"):
        assert page in links
    assert links.index("soft_labels") < links.index("distill") < links.index("compare")


def test_home_shows_the_builtin_pair_sizes(open_page):
    at = open_page()
    values = {m.label: m.value for m in at.metric}
    teacher = values["Teacher parameters"]
    assert teacher.endswith(" M") and float(teacher.split()[0]) > 0
    assert any(label.startswith("Student") for label in values)
