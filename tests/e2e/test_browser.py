"""The app in a real browser: headless Chromium (Debian's) driven by Playwright against
`streamlit run app.py` on a localhost port. Screenshots go to the test's tmp folder."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    runs = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "DISTILL_RUNS_DIR": str(runs), "HF_HUB_OFFLINE": "1"}
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
    yield url, runs
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def test_soft_labels_by_direct_link_and_temperature_slider(server, page, tmp_path):
    url, _ = server
    # The first request of a fresh server is a page URL: app.py must still route it.
    page.goto(url + "/soft_labels")
    page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
    assert page.get_by_text("Soft labels and temperature").is_visible()
    sidebar = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "shared" not in sidebar.lower() and "Compare" in sidebar
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
                       ("/scrubber", "Checkpoint scrubber"), ("/sweep", "α × T sweep")):
        page.goto(url + path)
        page.get_by_text(text).first.wait_for(timeout=60_000)
        assert not page.locator('[data-testid="stException"]').count()
        page.screenshot(path=tmp_path / f"page{path.replace('/', '_') or '_home'}.png")


def test_start_a_short_run_and_watch_its_curves(server, page, tmp_path):
    url, runs = server
    page.goto(url + "/distill")
    page.get_by_text("Training", exact=True).click()
    page.get_by_text("Evaluation", exact=True).click()
    for label, value in (("training stories", "500"), ("steps", "12"), ("warmup", "2"),
                         ("batch size", "8"), ("sequence length (tokens)", "64"),
                         ("eval every", "6"), ("eval blocks", "8")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Start").click()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=120_000)
    page.get_by_text(re.compile("keeps .* of the teacher")).first.wait_for(timeout=180_000)
    page.screenshot(path=tmp_path / "distill_done.png", full_page=True)
    assert any((r / "summary.json").exists() for r in runs.iterdir() if r.is_dir())


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
    assert page.get_by_label("Prompt", exact=True).input_value() == prompt
    assert "step=2" in page.url
    page.screenshot(path=tmp_path / "lesson_step2.png", full_page=True)


def test_presenter_mode_from_a_link_enlarges_the_type(server, page):
    url, _ = server
    size = "() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)"
    page.goto(url + "/soft_labels")
    page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
    plain = page.evaluate(size)
    page.goto(url + "/soft_labels?present=1")
    page.get_by_text("Teacher entropy").wait_for(timeout=60_000)
    page.wait_for_function(f"s => ({size})() > 1.2 * s", arg=plain, timeout=30_000)
    assert not page.locator('[data-testid="stException"]').count()
    assert page.locator("input[type=checkbox]").first.is_checked()  # the sidebar toggle
    assert not page.get_by_text("KD part α·T²·D").count()  # advanced readouts hidden
    assert "present=1" in page.url
