"""The numbers a finished run reports (summary.json), in one table: what each is called, its
unit and format, which way is better, a line of help, and where it is shown.

    for m in metrics.shown("verdict"):                 # in table order
        print(m.label, m.text(summary.get(m.key)))     # "student perplexity 12.500"

Views, each reading this table when it is drawn:

    "verdict"     the verdict rows of `distill show`, the end of `distill run` and the run page
    "compare"     the columns of `runs.compare`: the Compare page's table and `distill compare`
    "list"        the numbers in `runs.list_runs` rows and the columns of `distill runs`
    "sweep"       a sweep's cells: `distill sweep`'s table and what the heatmap can colour by
    "experiment"  the numbers an experiment keeps of each trial it trains

Adding a metric is one entry in METRICS (the run's summary must write its key). A value is
text two ways: `text` is the full reading with its unit ("61.0%", "2.35x"), for a row that
says what it is; `cell` is the bare number for a table column whose `heading` carries the unit
("agreement %" over "61.0"). Perplexities have no unit; losses elsewhere are in nats.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from distill_core.errors import InputError

__all__ = ["METRICS", "VIEWS", "Metric", "format_value", "get", "keys", "shown"]

VIEWS = ("verdict", "compare", "list", "sweep", "experiment")


def format_value(value, fmt: str = "{}") -> str:
    """`fmt.format(value)`; "-" for a missing value, str(value) where the format does not fit."""
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


@dataclass(frozen=True)
class Metric:
    """One number of summary.json and how every view shows it."""

    key: str  # in summary.json
    label: str  # in words, as a verdict row says it
    short: str  # a table column's heading, before its unit
    fmt: str  # one value as text, unit included: "{:.1f} %"; "{:.1%}" shows a fraction in %
    unit: str  # "" for a plain number or count, else "%", "x", "s"
    lower_is_better: bool | None  # None: neither way is better (a count, a setting)
    help: str
    views: tuple[str, ...]

    def __post_init__(self):
        unknown = set(self.views) - set(VIEWS)
        if unknown:
            raise ValueError(f"metric {self.key}: unknown views {sorted(unknown)}; "
                             f"known: {', '.join(VIEWS)}")
        if len(self._fields()) != 1:
            raise ValueError(f"metric {self.key}: fmt {self.fmt!r} must hold one {{}} field")

    def _fields(self) -> list[tuple[str, str]]:
        return [(spec or "", text) for text, field, spec, _ in string.Formatter().parse(self.fmt)
                if field is not None]

    @property
    def spec(self) -> str:
        """The format spec of the number itself: ".3f", ".1%", ","."""
        return self._fields()[0][0]

    @property
    def suffix(self) -> str:
        """What `fmt` writes after the number: " %", "x", " s", ""."""
        return self.fmt.rsplit("}", 1)[1]

    @property
    def heading(self) -> str:
        """A table column's heading, unit included: "retention %", "wall time (s)", "student
        ppl"."""
        if not self.unit:
            return self.short
        return f"{self.short} %" if self.unit == "%" else f"{self.short} ({self.unit})"

    @property
    def better(self) -> str:
        """"lower is better", "higher is better", or "" when neither is."""
        if self.lower_is_better is None:
            return ""
        return "lower is better" if self.lower_is_better else "higher is better"

    @property
    def in_percent(self) -> bool:
        """A fraction (0..1) shown in percent ("{:.1%}")."""
        return self.spec.endswith("%")

    def text(self, value) -> str:
        """The full reading, unit included ("61.0%", "2.35x"); "-" when missing."""
        return format_value(value, self.fmt)

    def number(self, value):
        """`value` in the unit of `heading` (a fraction as percent points); None stays None."""
        return 100 * value if value is not None and self.in_percent else value

    def cell(self, value) -> str:
        """The bare number for a column under `heading` ("61.0" under "agreement %")."""
        spec = self.spec[:-1] + "f" if self.in_percent else self.spec
        return format_value(self.number(value), "{:" + spec + "}")

    def column_format(self) -> str | None:
        """A printf-style format for a number column of a table widget (Streamlit's
        NumberColumn): "%.3f", "%.1f %%", "percent"; None for a plain count."""
        if self.in_percent:
            return "percent"
        if not self.spec or "," in self.spec:
            return None
        suffix = self.suffix.replace("%", "%%")
        return "%" + self.spec + ("×" if suffix == "x" else suffix)


def _m(key, label, short, fmt, unit, lower_is_better, views, about) -> tuple[str, Metric]:
    return key, Metric(key, label, short, fmt, unit, lower_is_better, about, tuple(views.split()))


ALL = "verdict compare list sweep experiment"  # views, as the entries below name them
RESULT = "verdict compare experiment"
# In the order the views show them.
METRICS: dict[str, Metric] = dict([
    _m("teacher_ppl", "teacher perplexity", "teacher ppl", "{:.3f}", "", True, RESULT,
       "The teacher's perplexity on the validation blocks: e to the mean cross-entropy "
       "(nats per token). The student cannot be expected to beat it."),
    _m("student_ppl", "student perplexity", "student ppl", "{:.3f}", "", True, ALL,
       "The distilled student's perplexity on the same validation blocks (lower is better)."),
    _m("baseline_ppl", "baseline perplexity (no teacher)", "baseline ppl", "{:.3f}", "", True,
       "verdict compare list experiment",
       "The same student trained on the same batches without a teacher (α = 0); '-' when the "
       "run trained no baseline."),
    _m("teacher_bpb", "teacher loss in bits per byte", "teacher bpb", "{:.4f}", "", True,
       "verdict compare",
       "The teacher's validation loss in bits per UTF-8 byte of the text: total nats / (ln 2 "
       "× bytes). Unlike perplexity per token it means the same whatever the tokenizer."),
    _m("student_bpb", "student loss in bits per byte", "student bpb", "{:.4f}", "", True,
       "verdict compare",
       "The student's validation loss in bits per UTF-8 byte: comparable across students "
       "and teachers with different tokenizers (lower is better)."),
    _m("teacher_bpc", "teacher loss in bits per character", "teacher bpc", "{:.4f}", "", True,
       "compare", "The teacher's validation loss in bits per character of the text."),
    _m("student_bpc", "student loss in bits per character", "student bpc", "{:.4f}", "", True,
       "compare", "The student's validation loss in bits per character of the text."),
    _m("retention_pct", "retention (teacher ppl / student ppl)", "retention", "{:.1f} %", "%",
       False, "verdict compare list experiment",
       "How much of the teacher's quality the student keeps: 100 × teacher perplexity / "
       "student perplexity; when their tokenizers differ, per byte: 100 × 2^(teacher bpb − "
       "student bpb) (the unit is named beside it)."),
    _m("gap_closed_pct", "gap closed vs baseline", "gap closed", "{:.1f} %", "%", False, RESULT,
       "How much of the baseline's gap to the teacher distillation closes, in validation loss: "
       "100 × (baseline − student) / (baseline − teacher); in bits per byte when the "
       "tokenizers differ."),
    _m("retention_unit", "retention and gap closed measured in", "unit", "{}", "", None,
       "verdict", "nats per token when teacher and student share a tokenizer; bits per byte "
       "when they do not (per-token figures of two tokenizers do not compare)."),
    _m("equal_flops_baseline_ppl", "baseline perplexity at the student's training FLOPs",
       "baseline ppl, equal FLOPs", "{:.3f}", "", True, RESULT,
       "The baseline trained on past the run's steps, same batch order, until its training "
       "FLOPs reach the distilled student's (teacher forward included): what the compute spent "
       "on the teacher would have bought without one (training/equal_compute.py)."),
    _m("equal_flops_baseline_steps", "baseline steps at the student's training FLOPs",
       "equal-FLOPs steps", "{:,}", "", None, "verdict compare",
       "Optimizer steps the baseline took to spend the distilled student's training FLOPs."),
    _m("equal_flops_gap_closed_pct", "gap closed vs the baseline at equal FLOPs",
       "gap closed, equal FLOPs", "{:.1f} %", "%", False, RESULT,
       "Gap closed against the baseline trained to the same FLOPs: above 0 means distillation "
       "beat training without a teacher for the same compute."),
    _m("equal_time_baseline_ppl", "baseline perplexity at the student's training time",
       "baseline ppl, equal time", "{:.3f}", "", True, RESULT,
       "The baseline trained on until its training seconds reach the distilled student's, "
       "both timed in this run (machine- and load-dependent; '-' for runs side by side)."),
    _m("equal_time_baseline_steps", "baseline steps at the student's training time",
       "equal-time steps", "{:,}", "", None, "verdict compare",
       "Optimizer steps the baseline took in the distilled student's training seconds."),
    _m("equal_time_gap_closed_pct", "gap closed vs the baseline at equal time",
       "gap closed, equal time", "{:.1f} %", "%", False, RESULT,
       "Gap closed against the baseline trained for the same seconds."),
    _m("agreement", "top-1 agreement with teacher", "agreement", "{:.1%}", "%", False,
       "verdict compare sweep experiment",
       "How often the student's most likely next token is the teacher's, on the validation "
       "blocks."),
    _m("speedup", "speed-up (forward tokens/s, student / teacher)", "speed-up", "{:.2f}x", "x",
       False, RESULT,
       "Forward-pass tokens per second of the student over the teacher's, timed interleaved "
       "on this machine."),
    _m("latency_speedup", "generation speed-up (ms per new token, teacher / student)",
       "generation speed-up", "{:.2f}x", "x", False, RESULT,
       "Milliseconds per generated token of the teacher over the student's (batch 1, with the "
       "KV cache)."),
    _m("size_ratio", "size (student / teacher, on disk)", "size", "{:.1%}", "%", True, RESULT,
       "The student's safetensors bytes as a share of the teacher's."),
    _m("student_params", "student parameters", "student params", "{:,}", "", None,
       "experiment", "How many parameters the student has."),
    _m("steps", "training steps", "steps", "{:,}", "", None, "compare",
       "Optimizer steps the run trained."),
    _m("tokens", "tokens trained", "tokens", "{:,}", "", None, "verdict compare",
       "Tokens the student read in training (steps × batch size × sequence length)."),
    _m("wall_seconds", "wall time", "wall time", "{:.0f} s", "s", True, RESULT,
       "Seconds the whole run took, loading and measuring included."),
])


def shown(view: str) -> list[Metric]:
    """The metrics `view` shows, in table order."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    return [m for m in METRICS.values() if view in m.views]


def keys(view: str) -> tuple[str, ...]:
    """The summary.json keys `view` shows, in table order."""
    return tuple(m.key for m in shown(view))


def get(key: str, view: str | None = None) -> Metric:
    """The metric `key` (one `view` shows, when given); InputError naming the choices if not."""
    choices = keys(view) if view else tuple(METRICS)
    if key not in choices:
        raise InputError(f"metric must be one of {', '.join(choices)}, not {key!r}")
    return METRICS[key]
