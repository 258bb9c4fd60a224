"""What precision=auto picks for the built-in student on this machine, and why, measured.

    python bench/precision_choice.py            # precision only (~1 min on a busy 2-core box)
    python bench/precision_choice.py --speed    # also forward speed-up and generation latency
    python bench/precision_choice.py --threads 1

A training step of `builtin:half` distilled from `builtin:teacher` at batch 16 x 128 (teacher
forward + student forward, KD loss, backward), in fp32 and in bf16 autocast, interleaved and
warmed: first on the whole batch with room to repeat, then as `choose_precision` does it at run
start (a ~3 s budget, possibly fewer rows), with a fresh cache so it really measures. Prints
where (CPU model) and when, and the ratios last.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile

import torch

from distill_core import models
from distill_core.cli import quiet_libraries
from distill_core.data import tinytales
from distill_core.training.precision import choose_precision, machine_name, measure_steps, pick
from distill_core.training.speed import forward_speedup, generation_latency

BATCH, SEQ = 16, 128


def token_block(tokenizer, rows: int, length: int) -> torch.Tensor:
    """(rows, length) token ids of tinytales stories, end to end."""
    text = " ".join(t for t, _ in tinytales.generate(400, seed=7))
    ids = tokenizer(text)["input_ids"][: rows * length]
    return torch.tensor(ids).reshape(rows, length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true",
                        help="also time the forward speed-up and generation latency")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_libraries()
    teacher, tokenizer = models.load_teacher("builtin:teacher")
    student = models.load_student("builtin:half", teacher, seed=0)
    x = token_block(tokenizer, BATCH, SEQ)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"measured on {machine_name('cpu')}, {when}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    full = measure_steps(student, teacher, x, device="cpu", budget_s=60.0, max_rounds=5,
                         rows=BATCH)
    print(f"step at {BATCH}x{SEQ} ({full['rows']} rows, {full['rounds']} interleaved rounds, "
          f"median): fp32 {full['fp32']:.3f} s, bf16 {full['bf16']:.3f} s "
          f"-> {pick(full['fp32'], full['bf16'], 'cpu')}")

    with tempfile.TemporaryDirectory() as cache:
        auto = choose_precision(student, teacher, x, device="cpu", cache_dir=cache)
    print(f"precision=auto at run start (3 s budget, {auto['rows']} rows): "
          f"fp32 {auto['fp32_step_s']:.3f} s, bf16 {auto['bf16_step_s']:.3f} s "
          f"-> {auto['precision']} ({auto['rounds']} rounds, "
          f"{'clear: cached' if auto['clear'] else 'not clear: measured again next run'})")

    if args.speed:
        fwd = forward_speedup(teacher, student, x)
        print(f"forward at {BATCH}x{SEQ}, fp32: teacher {fwd['teacher_tokens_per_s']:,.0f} tok/s, "
              f"student {fwd['student_tokens_per_s']:,.0f} tok/s ({fwd['repeats']} repeats, "
              f"per-pair ratio p25-p75 {fwd['spread'][0]:.2f}-{fwd['spread'][1]:.2f})")
        prompt = x[0, :64]
        gen = {name: generation_latency(m, prompt, new_tokens=64)
               for name, m in (("teacher", teacher), ("student", student))}
        for name, g in gen.items():
            print(f"generation, batch 1, 64-token prompt, 64 new tokens, {name}: "
                  f"{g['ms_per_token']:.1f} ms/token (first token {g['first_token_ms']:.0f} ms, "
                  f"then {g['decode_ms_per_token']:.1f} ms/token)")

    ratios = [f"fp32/bf16 step time {full['fp32'] / full['bf16']:.2f} (full batch), "
              f"{auto['fp32_step_s'] / auto['bf16_step_s']:.2f} (auto, {auto['rows']} rows)"]
    if args.speed:
        ratios.append(f"forward speed-up student vs teacher {fwd['speedup']:.2f}x")
        ratios.append(f"generation ms/token teacher/student "
                      f"{gen['teacher']['ms_per_token'] / gen['student']['ms_per_token']:.2f}x")
    print("ratios: " + "; ".join(ratios))


if __name__ == "__main__":
    main()
