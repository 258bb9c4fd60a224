"""How long `smollm2-135m` takes to load offline once converted: `python bench/load_smollm2.py`.

Fresh processes, so nothing is cached in memory: imports + teacher + tokenizer through the
project's loader (safetensors, HF_HUB_OFFLINE=1). The folder must be converted first
(`distill fetch smollm2-135m`; the cache is $DISTILL_MODELS_DIR or
~/.cache/distill-playground/models).

`--perplexity` also measures the converted model's validation perplexity on python-docs with the
project's evaluation (128-token blocks of the corpus's seed-0 validation split, fp32; the corpus is this
Python's pydoc topics, so the Python version is printed too): the number
the model card quotes (models/pretrained.py records it with the date and CPU printed here).
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

SNIPPET = """
import time
t = time.perf_counter()
from distill_core.models import load_teacher
imported = time.perf_counter()
teacher, tokenizer = load_teacher("smollm2-135m")
done = time.perf_counter()
print(done - t, imported - t, done - imported, time.process_time())
"""


def load_times(repeats: int) -> list[float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_VERBOSITY": "error"}
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True,
                             text=True, check=True)
        total, imports, load, cpu = map(float, out.stdout.strip().splitlines()[-1].split())
        times.append((total, load))
        print(f"load: {total:.2f} s in all = imports {imports:.2f} s + teacher and tokenizer "
              f"{load:.2f} s; process CPU time {cpu:.2f} s; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    return times


def python_docs_perplexity(block_size: int = 128) -> tuple[float, int, float]:
    """(perplexity, blocks, seconds) of smollm2-135m on the python-docs validation split."""
    from distill_core.data.corpora import blocks_as_tensor, load_corpus, pack_blocks
    from distill_core.models import load_teacher
    from distill_core.training.evaluate import perplexity

    model, tokenizer = load_teacher("smollm2-135m")
    validation = load_corpus("python-docs", seed=0)["validation"]
    blocks = blocks_as_tensor(pack_blocks(validation, tokenizer, block_size))
    start = time.perf_counter()
    ppl = perplexity(model, blocks)
    return ppl, len(blocks), time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--perplexity", action="store_true", help="also measure python-docs perplexity")
    args = p.parse_args()
    from distill_core.machine import cpu_model
    from distill_core.models import fetch_pretrained, is_fetched

    if not is_fetched("smollm2-135m"):
        sys.exit("smollm2-135m is not converted yet: run `distill fetch smollm2-135m` first")
    print(f"folder: {fetch_pretrained('smollm2-135m')}")
    print(f"measured {time.strftime('%Y-%m-%d')} on {cpu_model()} ({os.cpu_count()} CPUs), "
          f"Python {platform.python_version()}")
    if args.perplexity:
        ppl, n, seconds = python_docs_perplexity()
        print(f"python-docs validation perplexity: {ppl:.2f} ({n} blocks of 128 tokens, "
              f"{seconds:.0f} s)")
    times = load_times(args.repeats)
    total, load = (statistics.median(t[i] for t in times) for i in (0, 1))
    print(f"ratios: load_s_median={total:.2f} without_imports_s={load:.2f} target_s=5 "
          f"load_vs_target={total / 5:.2f} without_imports_vs_target={load / 5:.2f}")


if __name__ == "__main__":
    main()
