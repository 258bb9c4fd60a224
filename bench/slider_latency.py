"""How long a slider move takes on the Soft labels page: `python bench/slider_latency.py`.

Runs the app in-process with Streamlit's AppTest (no browser, so no network or rendering time):
the first run loads the built-in pair, then the T slider moves through 10 values and the α
slider through 10 values. Each move is one full rerun of the page; the time is the server's,
from setting the value to the rerun's last element. Moving a slider must not run a model, so
these should be a few milliseconds of math plus Streamlit's own overhead.
"""

import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from streamlit.testing.v1 import AppTest  # noqa: E402

from distill_core.kd.explore import TEMPERATURES  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TARGET_MS = 100


def timed(action) -> float:
    start = time.perf_counter()
    at = action()
    assert not at.exception, at.exception
    return (time.perf_counter() - start) * 1000


def main() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    first_ms = timed(at.run)
    page_ms = timed(lambda: at.switch_page("pages/soft_labels.py").run())
    temperatures = [t for t in TEMPERATURES if t != 1.0][::2][:10]
    alphas = [round(0.1 * i, 2) for i in range(10)][::-1]
    t_ms = [timed(at.select_slider(key="temperature").set_value(t).run) for t in temperatures]
    a_ms = [timed(at.slider(key="alpha").set_value(a).run) for a in alphas]
    moves = t_ms + a_ms
    p50 = statistics.median(moves)
    p95 = statistics.quantiles(moves, n=20, method="inclusive")[-1]
    print(f"first run (Home page: loads the teacher and the half student): {first_ms:,.0f} ms")
    print(f"soft labels page, first visit (runs both models on the prompt): {page_ms:,.0f} ms")
    print(f"T slider, {len(t_ms)} moves: median {statistics.median(t_ms):.1f} ms, "
          f"max {max(t_ms):.1f} ms")
    print(f"alpha slider, {len(a_ms)} moves: median {statistics.median(a_ms):.1f} ms, "
          f"max {max(a_ms):.1f} ms")
    print(f"ratios: slider_ms_p50={p50:.1f} slider_ms_p95={p95:.1f} target_ms={TARGET_MS}")


if __name__ == "__main__":
    main()
