"""How long the built-in pair takes to load offline: `python bench/load_builtin.py`.

Fresh processes, so nothing is cached in memory: teacher + tokenizer + the `half` student.
"""

import os
import statistics
import subprocess
import sys

SNIPPET = """
import time
t = time.perf_counter()
from distill_core.models import load_teacher, load_student
teacher, tokenizer = load_teacher("builtin:teacher")
student = load_student("builtin:half", teacher)
print(time.perf_counter() - t)
"""


def main(repeats: int = 3) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True,
                             text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
        print(f"load (imports + teacher + tokenizer + half student): {times[-1]:.2f} s")
    median = statistics.median(times)
    print(f"ratios: load_s_median={median:.2f} target_s=5 load_vs_target={median / 5:.2f}")


if __name__ == "__main__":
    main()
