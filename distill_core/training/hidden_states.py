"""Hidden-state distillation in a run: which layers are paired, the learned projection between
widths, and the recording of the layers' outputs while the loss step runs.

    hidden = open_hidden(config, student, teacher)      # None while config.hidden_weight is 0
    source = hidden.ready(acc, source)                  # projection prepared, teacher watched
    total = total + weighted_part(hidden, source, accum)   # in the loss step, before backward
    record["hidden"] = hidden.take(acc)                 # the part's mean over the step

Layer pairs (student layer : teacher layer, numbered from 0; a layer's output is paired):
config.hidden_layers when given; else, for a student copied from the teacher, the layer each
student layer was copied from (models.students records it as config.teacher_layer_map); else
evenly spaced, student layer i with teacher layer (i + 1) · L_t // L_s − 1, so the last layers
pair. The outputs are recorded by forward hooks on the mapped layers (before the final norm),
so only those layers are kept, whatever form the loss step's forwards take: the student's in
its training forward (grad enabled: evaluation and generation record nothing), the teacher's
only while the source computes the training targets. Where the widths differ, the student's
states go through a `Projection` (one bias-free linear map per pair, student width -> teacher
width) that the student's optimiser trains; it is saved with the run's checkpoint and, at the
end, as hidden_projection.safetensors in the run folder, beside (never inside) the student's
folder: the exported student is the plain Hugging Face model.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from distill_core.errors import InputError
from distill_core.kd.hidden import hidden_loss, layer_pairs, pairs_text
from distill_core.models.students import COPIED_FROM

PROJECTION_FILE = "hidden_projection.safetensors"
LAYER_LISTS = ("h", "layers", "layer", "blocks")  # what decoder stacks are called

__all__ = ["PROJECTION_FILE", "HiddenStates", "Projection", "decoder_layers", "layer_map",
           "open_hidden", "weighted_part"]


def decoder_layers(model) -> nn.ModuleList:
    """The model's stack of decoder layers (GPT-2's transformer.h, Llama's model.layers, ...)."""
    count = model.config.num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count \
                and name.rsplit(".", 1)[-1] in LAYER_LISTS:
            return module
    raise InputError(f"hidden-state distillation cannot find the {count} decoder layers of "
                     f"this {type(model).__name__}; set hidden_weight to 0")


def layer_map(student, teacher, override: str | None = None) -> tuple[list, str]:
    """([(student layer, teacher layer), ...], how they were chosen)."""
    n_s, n_t = student.config.num_hidden_layers, teacher.config.num_hidden_layers
    copied = getattr(student.config, COPIED_FROM, None)
    if override:
        pairs, how = layer_pairs(override), "hidden_layers"
    elif isinstance(copied, list) and len(copied) == n_s and all(
            isinstance(t, int) and 0 <= t < n_t for t in copied):
        pairs, how = list(enumerate(copied)), "copied from"
    else:
        pairs, how = [(i, (i + 1) * n_t // n_s - 1) for i in range(n_s)], "evenly spaced"
    for s, t in pairs:
        if s >= n_s or t >= n_t:
            raise InputError(f"hidden_layers pair {s}:{t} is out of range: the student has "
                             f"layers 0 to {n_s - 1}, the teacher 0 to {n_t - 1}")
    return pairs, how


class Projection(nn.Module):
    """One bias-free linear map per layer pair, from the student's width to the teacher's."""

    def __init__(self, pairs: int, student_width: int, teacher_width: int, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # the run's own random stream is left alone
            torch.manual_seed(seed)
            self.maps = nn.ModuleList(nn.Linear(student_width, teacher_width, bias=False)
                                      for _ in range(pairs))

    def forward(self, states: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(s) for m, s in zip(self.maps, states)]  # each (..., H_s) -> (..., H_t)


class HiddenStates:
    """One run's hidden-state term: pairs, projection, hooks and the step's running part."""

    def __init__(self, student, teacher, pairs: list, kind: str, weight: float,
                 projection: Projection | None, how: str = ""):
        self.pairs, self.kind, self.weight, self.how = pairs, kind, weight, how
        self.module = projection  # the plain projection (None: same widths)
        self.projection = projection  # the one the loss step calls (Accelerate's, once ready)
        self.teacher_layers = decoder_layers(teacher)
        self.student_states: dict[int, torch.Tensor] = {}
        self.teacher_states: dict[int, torch.Tensor] = {}
        self.running: torch.Tensor | None = None  # sum of part / accum over this step
        layers = decoder_layers(student)
        self.handles = [layers[i].register_forward_hook(self._recorder(self.student_states, i,
                                                                       training=True))
                        for i in sorted({s for s, _ in pairs})]

    @staticmethod
    def _recorder(store: dict, index: int, training: bool = False):
        def hook(module, args, output):
            if training and not torch.is_grad_enabled():
                return  # evaluation, generation: nothing to learn from
            store[index] = output[0] if isinstance(output, tuple) else output  # (b, T, H)
        return hook

    def parameters(self) -> list:
        return [] if self.module is None else list(self.module.parameters())

    def ready(self, acc, source, emit=None):
        """Prepare the projection with Accelerate; returns the source, watched (`TeacherWatch`).
        `emit` gets a notice naming the pairs (`describe`)."""
        if self.module is not None:
            self.projection = acc.prepare(self.module)
        if emit is not None:
            emit({"type": "notice", "message": self.describe()})
        return TeacherWatch(source, self)

    @contextlib.contextmanager
    def recording_teacher(self):
        """Record the teacher's mapped layers during the forwards inside."""
        handles = [self.teacher_layers[t].register_forward_hook(
            self._recorder(self.teacher_states, t)) for t in sorted({t for _, t in self.pairs})]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def part(self, accum: int = 1) -> torch.Tensor:
        """The unweighted part for the micro-batch just run (its recorded states are used up);
        adds part / accum to the step's running sum."""
        missing = [f"student layer {s}" for s, _ in self.pairs if s not in self.student_states]
        missing += [f"teacher layer {t}" for _, t in self.pairs if t not in self.teacher_states]
        if missing:
            raise RuntimeError(f"hidden states were not recorded for {', '.join(missing[:3])}")
        student = [self.student_states[s] for s, _ in self.pairs]
        teacher = [self.teacher_states[t].clone() for _, t in self.pairs]  # out of inference mode
        self.student_states.clear()
        self.teacher_states.clear()
        if self.projection is not None:
            student = self.projection(student)
        part = hidden_loss(student, teacher, self.kind)
        step = part.detach().float() / accum
        self.running = step if self.running is None else self.running + step
        return part

    def take(self, acc) -> float:
        """The step's part, averaged over processes; the running sum starts again."""
        running, self.running = self.running, None
        if running is None:
            running = torch.zeros((), device=acc.device)
        return float(acc.reduce(running, reduction="mean"))

    def close(self) -> None:
        """Remove the student's hooks (the trained student leaves the run without them)."""
        for h in self.handles:
            h.remove()
        self.handles = []

    def describe(self) -> str:
        """One line: the pairs, how they were chosen, the distance and weight."""
        proj = "through a learned projection" if self.module is not None else "same width"
        return (f"hidden states: student:teacher layers {pairs_text(self.pairs)} ({self.how}), "
                f"{self.kind}, weight {self.weight:g}, {proj}")

    def save(self, folder: Path) -> Path | None:
        """The projection's weights as folder/hidden_projection.safetensors (None: none)."""
        if self.module is None:
            return None
        from safetensors.torch import save_file

        path = Path(folder) / PROJECTION_FILE
        weights = {k: v.detach().contiguous().cpu() for k, v in self.module.state_dict().items()}
        save_file(weights, str(path), metadata={"pairs": pairs_text(self.pairs),
                                                "loss": self.kind})
        return path


class TeacherWatch:
    """The run's teacher source, unchanged, except that the teacher's mapped layers are
    recorded while it computes training targets."""

    def __init__(self, source, hidden: HiddenStates):
        self.source, self.hidden = source, hidden

    def targets(self, idx, x):
        with self.hidden.recording_teacher():
            return self.source.targets(idx, x)

    def __getattr__(self, name):  # mode, compare, report, ...: the source's own
        return getattr(self.source, name)


def open_hidden(config, student, teacher) -> HiddenStates | None:
    """The run's hidden-state term, or None when config.hidden_weight is 0. Call it after any
    copy of the student is made (the hooks go on this student alone)."""
    if config.hidden_weight == 0:
        return None
    pairs, how = layer_map(student, teacher, config.hidden_layers)
    s_width, t_width = student.config.hidden_size, teacher.config.hidden_size
    projection = None
    if s_width != t_width:
        projection = Projection(len(pairs), s_width, t_width, config.seed)
        projection.to(next(student.parameters()).dtype)
    return HiddenStates(student, teacher, pairs, config.hidden_loss, config.hidden_weight,
                        projection, how)


def weighted_part(hidden: HiddenStates | None, source, accum: int = 1):
    """hidden_weight × the hidden part of the micro-batch just run, to add to the loss; 0 with
    no hidden term or no teacher source (the baseline)."""
    if hidden is None or source is None:
        return 0.0
    return hidden.weight * hidden.part(accum)
