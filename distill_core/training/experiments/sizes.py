"""How big an experiment is: the settings every run gets, how many seeds, each grid's values and
which students. "default" takes minutes on a 2-core CPU; "tiny" seconds, for tests.

`soft_labels` are the settings of the soft-labels runs: the default run's student, α and T, with
fewer steps (a default run is 150 steps of 16 x 128 tokens on 300 stories); `distilled` those of
the temperature and tuning runs, which vary α and T around them (300 stories: soft labels matter
most where data is scarce). `compared` is the student trained from both teachers in capacity and
limits, which train on `model_docs` stories: they compare models, not amounts of data, and a
smaller corpus loads faster each time the teacher or the seed changes (a run there reads 40 x 10
sequences, half of the ~800 that 1,000 stories make). `from_random` is what capacity's students
that start from random weights get on top (hidden-state KD, 4x the steps): with 40 steps of
logits alone they stayed near the uniform guess, and the table said nothing about capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from distill_core.errors import InputError

__all__ = ["SIZES", "Size", "size_named"]


@dataclass(frozen=True)
class Size:
    """One size of every experiment: `config` holds the DistillConfig fields every run gets."""

    name: str
    config: dict
    soft_labels: dict
    distilled: dict
    seeds: int
    train_docs: tuple[int, ...]
    temperatures: tuple[float, ...]
    alphas: tuple[float, ...]
    grid_temperatures: tuple[float, ...]
    students: tuple[str, ...]
    compared: str
    model_docs: int
    # capacity: what a student starting from random weights gets on top, so that it learns
    # (a start from the teacher's layers already does): hidden-state KD, and more steps
    from_random: dict

    @property
    def seed_range(self) -> range:
        return range(self.seeds)


SIZES = {size.name: size for size in (
    Size("default",
         config=dict(steps=40, batch_size=10, seq_len=128, warmup=8, eval_every=0,
                     eval_blocks=96),
         soft_labels=dict(student="builtin:half", alpha=0.5, temperature=2.0, steps=80,
                          batch_size=16, warmup=8),
         distilled=dict(student="builtin:half", steps=80, batch_size=16, warmup=8,
                        train_docs=300),
         seeds=3, train_docs=(300, 3000, 20000), temperatures=(1.0, 2.0, 4.0, 8.0),
         alphas=(0.5, 0.9), grid_temperatures=(1.0, 2.0, 4.0),
         students=("builtin:tiny", "builtin:small", "builtin:half", "builtin:large"),
         compared="builtin:half", model_docs=1000,
         from_random=dict(hidden_weight=1.0, steps=160, warmup=16)),
    Size("tiny",
         config=dict(steps=2, batch_size=4, seq_len=32, warmup=0, eval_every=0, eval_blocks=4,
                     train_docs=100, precision="fp32", top_k=8),
         soft_labels=dict(student="builtin:small", alpha=0.9, temperature=1.0),
         distilled=dict(student="builtin:small"),
         seeds=2, train_docs=(100, 200), temperatures=(1.0, 4.0), alphas=(0.9,),
         grid_temperatures=(1.0, 4.0), students=("builtin:tiny", "builtin:half"),
         compared="builtin:half", model_docs=100,
         from_random=dict(hidden_weight=1.0, steps=4)),
)}


def size_named(name: str) -> Size:
    """The size called `name`; InputError naming the sizes there are otherwise."""
    if name not in SIZES:
        raise InputError(f"no size {name!r}; choose one of: {', '.join(SIZES)}")
    return SIZES[name]
