"""The app in a real browser: headless Chromium (Debian's) driven by Playwright against
`streamlit run app.py` on a localhost port. Screenshots go to the test's tmp folder, except the
projector layouts': tests/e2e/screens/ (gitignored: open them after a run) and the README's
docs/screenshot.png, remade here so it shows the app as it is."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app_pages._navigation import PAGES

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "tests" / "e2e" / "screens"
README_SHOT = ROOT / "docs" / "screenshot.png"
PROJECTORS = {"1366x768": ((1366, 768), ""),  # a laptop on a projector, and presenter mode
              "1280x720-presenter": ((1280, 720), "present=1")}  # at the smallest projector

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(runs: Path, **env):
    """`streamlit run app.py` over the runs root `runs`; yields its URL."""
    port = _free_port()
    env = {**os.environ, "DISTILL_RUNS_DIR": str(runs), "HF_HUB_OFFLINE": "1", **env}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    with _serve(runs) as url:
        yield url, runs


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def _overlaps(a: dict, b: dict) -> bool:
    return not (a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"]
                or b["bottom"] <= a["top"])


def _chart_boxes(chart) -> dict:
    """Screen boxes of a drawn plotly chart's x tick labels, x axis title and legend entries."""
    return chart.evaluate("""c => {
        const box = e => { const r = e.getBoundingClientRect();
                           return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
        const all = s => [...c.querySelectorAll(s)].map(box);
        return {ticks: all('.xtick text'), title: all('.g-xtitle text'),
                legend: all('.legend .traces')}; }""")


def _in_view(page, locator, whole: bool = True) -> None:
    """The element is on the first screen, as drawn: top (and bottom, when `whole`) inside the
    viewport, with the page not scrolled."""
    box, height = locator.bounding_box(), page.viewport_size["height"]
    assert box is not None and box["y"] >= 0, box
    assert (box["y"] + box["height"] if whole else box["y"] + 20) <= height, (box, height)


@contextlib.contextmanager
def _viewport(page, size: tuple[int, int]):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    try:
        yield
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


def _shot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / f"{name}.png")


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_soft_labels_by_direct_link_and_temperature_slider(server, page, tmp_path):
    url, _ = server
    # The first request of a fresh server is a page URL: app.py must still route it.
    page.goto(url + "/soft_labels")
    page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
    assert page.get_by_text("Soft labels and temperature").is_visible()
    nav = page.locator('[data-testid="stSidebarNav"]')
    sidebar = nav.inner_text()
    assert "shared" not in sidebar.lower() and "Compare" in sidebar
    # the pages' icons are Material Symbols (drawn by a font Streamlit ships), not emoji
    assert nav.locator('[data-testid="stIconMaterial"]').count() == len(PAGES)
    before = _metric(page, "Teacher entropy")
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(6):
        slider.press("ArrowRight")
    page.wait_for_function(
        "b => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some("
        "m => m.innerText.includes('Teacher entropy') && !m.innerText.includes(b))",
        arg=before, timeout=30_000)
    after = _metric(page, "Teacher entropy")
    assert float(after.split()[0]) > float(before.split()[0])  # hotter is flatter
    page.screenshot(path=tmp_path / "soft_labels.png", full_page=True)


def test_every_page_opens(server, page, tmp_path):
    url, _ = server
    for path, text in (("/", "Distillation Playground"), ("/pair", "Choose a teacher"),
                       ("/distill", "Distill"), ("/compare", "Compare"),
                       ("/lesson", "Lesson"), ("/kl_direction", "Forward or reverse KL"),
                       ("/scrubber", "Checkpoint scrubber"), ("/sweep", "α × T sweep"),
                       ("/experiments", "Experiments"), ("/disagreement", "Disagreement")):
        page.goto(url + path)
        page.get_by_text(text).first.wait_for(timeout=60_000)
        assert not page.locator('[data-testid="stException"]').count()
        page.screenshot(path=tmp_path / f"page{path.replace('/', '_') or '_home'}.png")


def _pick(page, box_label: str, option: re.Pattern) -> None:
    """Choose `option` in the selectbox labelled `box_label`."""
    page.locator('[data-testid="stSelectbox"]', has_text=box_label).first.click()
    page.get_by_role("option", name=option).first.click()


def test_every_page_shows_content_on_an_empty_runs_folder(page, tmp_path):
    """A fresh clone: no runs at all. Each page shows real content, the shipped reference
    results where the user has none yet, labelled as reference."""
    shown = '[data-testid="stPlotlyChart"], [data-testid="stTable"], [data-testid="stDataFrame"]'
    with _serve(tmp_path / "runs") as url:
        for path, label in (("/compare", "Reference run, measured on"),
                            ("/experiments", "Reference result, measured on"),
                            ("/scrubber", "Reference run, measured on"),
                            ("/sweep", "Reference sweep, measured on"),
                            ("/distill", "Reference run, measured on")):
            page.goto(url + path)
            page.get_by_text(label).first.wait_for(timeout=60_000)
            page.locator(shown).first.wait_for(timeout=60_000)
            assert not page.locator('[data-testid="stException"]').count()
            page.screenshot(path=tmp_path / f"fresh{path.replace('/', '_')}.png")
        for path, box in (("/soft_labels", "Student"), ("/disagreement", "Models")):
            page.goto(url + path)  # the trained-student views: the reference run's student
            page.locator(shown).first.wait_for(timeout=90_000)
            _pick(page, box, re.compile("^reference run"))
            page.get_by_text(re.compile("^(The r|R)eference run('s student)?, measured on")) \
                .first.wait_for(timeout=90_000)
            page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=90_000)
            assert not page.locator('[data-testid="stException"]').count()
            page.screenshot(path=tmp_path / f"fresh{path.replace('/', '_')}.png")


@pytest.mark.parametrize("screen", PROJECTORS)
def test_soft_labels_sliders_and_chart_share_one_screen(server, page, screen):
    url, _ = server
    size, query = PROJECTORS[screen]
    with _viewport(page, size):
        page.goto(f"{url}/soft_labels?{query}")
        page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.locator(".legend .traces").first.wait_for(timeout=30_000)
        for i in range(2):  # T and α, beside the chart they move
            _in_view(page, page.locator('[data-testid="stSlider"]').nth(i))
        _in_view(page, chart)
        if not query:
            README_SHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=README_SHOT)
        from playwright.sync_api import expect

        title = chart.locator(".gtitle")
        expect(title).to_have_text(re.compile(r"at T = 1$"))
        slider = page.get_by_role("slider").first
        slider.focus()
        slider.press("ArrowRight")  # T from 1 to the next step: the chart answers, in view
        expect(title).not_to_have_text(re.compile(r"at T = 1$"), timeout=30_000)
        _in_view(page, chart)
        assert not page.locator('[data-testid="stException"]').count()
        _shot(page, f"soft_labels-{screen}")


@pytest.mark.parametrize("screen", PROJECTORS)
def test_disagreement_text_and_token_bars_share_one_screen(server, page, screen):
    url, _ = server
    size, query = PROJECTORS[screen]
    with _viewport(page, size):
        page.goto(f"{url}/disagreement?{query}")
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.get_by_text(re.compile("^Before ")).wait_for(timeout=90_000)
        _in_view(page, chart)  # the chosen token's distributions
        _in_view(page, page.locator('[data-testid="stSelectbox"]', has_text="Token").first)
        _in_view(page, page.locator('[data-testid="stHtml"]').first, whole=False)  # the text
        assert not page.locator('[data-testid="stException"]').count()
        _shot(page, f"disagreement-{screen}")


def test_start_a_short_run_and_watch_its_curves(server, page, tmp_path):
    url, runs = server
    verdict = page.get_by_text(re.compile("keeps .* of the teacher")).first
    curves = page.locator('[data-testid="stPlotlyChart"]').first
    with _viewport(page, PROJECTORS["1366x768"][0]):
        page.goto(url + "/distill")
        page.get_by_text("Training", exact=True).click()
        page.get_by_text("Evaluation", exact=True).click()
        for label, value in (("training documents", "500"), ("steps", "12"), ("warmup", "2"),
                             ("batch size", "8"), ("sequence length (tokens)", "64"),
                             ("eval every", "6"), ("eval blocks", "8")):
            box = page.get_by_label(label, exact=True)
            box.fill(value)
            box.press("Tab")
        page.get_by_role("button", name="Start", exact=True).click()  # at the form's bottom
        # what Start began is where the eye is: progress (or already the verdict), then curves
        started = page.locator('[data-testid="stProgress"]').or_(verdict).first
        started.wait_for(timeout=60_000)
        _in_view(page, started)
        curves.wait_for(timeout=120_000)
        _in_view(page, curves)
        verdict.wait_for(timeout=180_000)  # the verdict in the progress bar's place
        _in_view(page, verdict)
        _in_view(page, curves)
        assert not page.locator('[data-testid="stProgress"]').count()
        _shot(page, "distill-done-1366x768")
        page.screenshot(path=tmp_path / "distill_done.png", full_page=True)
    (run,) = [r for r in runs.iterdir() if (r / "summary.json").exists()]
    with _viewport(page, PROJECTORS["1280x720-presenter"][0]):
        page.goto(f"{url}/distill?run={run.name}&present=1")
        verdict.wait_for(timeout=60_000)
        curves.wait_for(timeout=30_000)
        _in_view(page, verdict)
        _in_view(page, curves)
        _shot(page, "distill-done-1280x720-presenter")


def test_a_shared_link_reopens_the_explorer_in_its_state(server, page, tmp_path):
    url, _ = server
    page.goto(url + "/soft_labels?T=4&alpha=0.9&prompt=They%20ate%20cake%20and%20drank"
                    "&loss=reverse_kl")
    page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
    prompt = page.get_by_label("Prompt: the models predict the token that comes next")
    assert prompt.input_value() == "They ate cake and drank"
    page.get_by_text("Teacher vs student at T = 4").first.wait_for(timeout=30_000)
    assert page.get_by_role("radio", name="reverse KL(student‖teacher)").is_checked()
    sliders = page.get_by_role("slider")
    assert [sliders.nth(i).get_attribute("aria-valuetext") for i in range(2)] == ["4", "0.90"]
    assert "T=4" in page.url and "alpha=0.9" in page.url  # still shareable after the render
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=tmp_path / "shared_link.png", full_page=True)


def test_walk_the_lessons_first_two_steps(server, page, tmp_path):
    from distill_core.app import lesson
    from distill_core.models import prompt_logits
    from distill_core.models import describe, load_student, load_teacher

    teacher, tok = load_teacher("builtin:teacher")
    tiny = describe(load_student("builtin:tiny", teacher))["parameters"]
    prompt = lesson.STEPS[1].settings["lesson_prompt"]
    top = lesson.teacher_view(prompt_logits(teacher, tok, prompt), tok, 1.0)["tokens"][0]

    url, _ = server
    page.goto(url + "/lesson")
    page.get_by_text("Lesson: distillation in five steps").wait_for(timeout=60_000)
    page.get_by_role("button", name=re.compile("^Try this: pick the tiniest")).click()
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some("
        "m => m.innerText.includes('Student parameters') && m.innerText.includes(n))",
        arg=f"{tiny:,}", timeout=30_000)
    page.get_by_role("button", name="Next step →").click()
    page.get_by_text("Soft labels against hard labels").first.wait_for(timeout=30_000)
    page.get_by_role("button", name=re.compile("^Try this: a prompt where")).click()
    page.wait_for_function(
        "t => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some("
        "m => m.innerText.includes('Hard label') && m.innerText.includes(t))",
        arg=top, timeout=30_000)
    from playwright.sync_api import expect

    # the box is redrawn after the metrics: wait for it rather than read it at once
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(prompt, timeout=30_000)
    assert "step=2" in page.url
    chart = page.locator('[data-testid="stPlotlyChart"]').first  # hard label against soft label
    chart.locator(".legend .traces").first.wait_for(timeout=30_000)
    boxes = _chart_boxes(chart)
    assert len(boxes["ticks"]) == 9 and boxes["title"] and len(boxes["legend"]) == 2
    for tick in boxes["ticks"]:
        assert not any(_overlaps(tick, other) for other in boxes["title"] + boxes["legend"])
    assert not any(_overlaps(t, x) for t in boxes["title"] for x in boxes["legend"])
    page.screenshot(path=tmp_path / "lesson_step2.png", full_page=True)


def test_presenter_mode_from_a_link_enlarges_the_type(server, page, tmp_path):
    url, _ = server
    size = "() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)"
    page.goto(url + "/soft_labels")
    page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
    plain = page.evaluate(size)
    plain_shot = page.locator("h1").first.screenshot(path=tmp_path / "title_plain.png")
    page.goto(url + "/soft_labels?present=1")
    page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
    page.wait_for_function(f"s => ({size})() > 1.2 * s", arg=plain, timeout=30_000)
    page.screenshot(path=tmp_path / "presenter.png", full_page=True)
    shot = page.locator("h1").first.screenshot(path=tmp_path / "title_presenter.png")
    # the title as drawn on screen, not only its style: taller pixels in presenter mode
    assert _png_height(shot) > 1.1 * _png_height(plain_shot)  # the box has fixed padding
    assert not page.locator('[data-testid="stException"]').count()
    assert page.locator("input[type=checkbox]").first.is_checked()  # the sidebar toggle
    assert not page.get_by_text("KD part α·T²·D").count()  # advanced readouts hidden
    assert "present=1" in page.url


def _png_height(png: bytes) -> int:
    """Pixel height from a PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[20:24], "big")


def test_a_run_waiting_in_line_starts_when_the_slot_frees(page, tmp_path, monkeypatch):
    """No reload: while the watched run waits, the page reruns, and app.py moves the queue on
    once the process holding the only slot has died."""
    from distill_core.config import DistillConfig
    from distill_core.store import jobs
    from distill_core.store.runs import Run

    runs = tmp_path / "runs"
    monkeypatch.setenv("DISTILL_MAX_CONCURRENT", "1")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    first = Run.create(runs, {"steps": 10})
    first.set_status("running", pid=holder.pid)  # it holds the one slot
    waiting = jobs.launch(DistillConfig(student="builtin:tiny", steps=2, batch_size=2, seq_len=32,
                                        warmup=0, eval_every=0, eval_blocks=2, train_docs=100,
                                        runs_dir=str(runs)), runs)
    try:
        with _serve(runs, DISTILL_MAX_CONCURRENT="1") as url:
            page.goto(f"{url}/distill?run={waiting.id}")
            page.get_by_text("queued, 1st in line").wait_for(timeout=60_000)
            holder.kill()
            holder.wait()
            page.wait_for_function("() => !document.body.innerText.includes('1st in line')",
                                   timeout=30_000)
            assert jobs.pid_alive(waiting.status().get("pid"))  # its training process started
            assert first.status()["state"] == "failed"
    finally:
        holder.kill()
        for _, status in jobs.statuses(runs):
            if jobs.pid_alive(status.get("pid")):
                os.kill(status["pid"], signal.SIGKILL)
