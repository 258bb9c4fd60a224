"""A run's progress and verdict in words and numbers, read from what the run wrote to disk.

    progress(run.metrics(), steps)   {"step", "steps", "fraction", "elapsed_s", "eta_s"}
    notice(run, status, step)        ("error", "The run failed; see …") for a run that ended badly
    verdict_rows(run.summary())      [(label, value text)], the same rows as `distill show`
    verdict_sentence(run.summary())  "The student keeps 92.1 % of the teacher's quality ..."
                                     and whether it beat the baseline at equal compute

Every number comes from metrics.jsonl or summary.json: nothing here is estimated except the
ETA, which assumes the remaining steps take as long as the ones done so far.
"""

from __future__ import annotations

from distill_core.metrics import shown
from distill_core.store import jobs

ACTIVE_STATES = ("queued", "running")


def progress(metrics: list[dict], steps: int) -> dict:
    """Steps done out of `steps`, the fraction (0..1), seconds spent training, and the ETA."""
    last = metrics[-1] if metrics else {}
    done, elapsed = int(last.get("step", 0)), last.get("elapsed_s")
    eta = elapsed / done * (steps - done) if done and elapsed is not None else None
    return {"step": done, "steps": steps, "fraction": min(1.0, done / steps) if steps else 0.0,
            "elapsed_s": elapsed, "eta_s": eta}


def duration(seconds: float | None) -> str:
    """Seconds for people: '42 s', '3 min 05 s', '1 h 07 min'."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress_text(state: str, p: dict) -> str:
    """One line under the progress bar."""
    if state == "queued":
        return "queued: starting the training process…"
    if state == "running" and not p["step"]:
        return "running: loading the teacher, the student and the data…"
    text = f"{state}: step {p['step']:,} / {p['steps']:,}"
    if state == "running" and p["eta_s"] is not None:
        text += f" · {duration(p['elapsed_s'])} so far · about {duration(p['eta_s'])} left"
    return text


def latest(metrics: list[dict], key: str):
    """The last logged value of `key` (eval metrics appear only at eval steps), or None."""
    return next((r[key] for r in reversed(metrics) if r.get(key) is not None), None)


def verdict_rows(summary: dict) -> list[tuple[str, str]]:
    """(label, value) rows of the final metrics (the metrics table's "verdict" view), formatted
    exactly as the CLI's verdict table; a missing baseline shows as "-"."""
    return [(m.label, m.text(summary.get(m.key))) for m in shown("verdict")
            if m.key in summary and (summary.get(m.key) is not None or m.key == "baseline_ppl")]


def verdict_sentence(summary: dict, detail: bool = True) -> str:
    """The run's result in one or two sentences, every number measured (from summary.json);
    `detail=False` leaves out the equal-compute verdict (a card that must fit above its curves
    on a projector says it beside them: `equal_compute_sentence(summary, detail=False)`)."""
    keep, size, speed = (summary.get(k) for k in ("retention_pct", "size_ratio", "speedup"))
    if keep is None or size is None or speed is None:
        return "This run has no final measurements yet."
    pace = (f"runs {speed:.2f}× faster" if speed >= 1
            else f"runs at only {speed:.2f}× the teacher's speed")
    if summary.get("latency_speedup") is not None:
        pace += f" ({summary['latency_speedup']:.2f}× when generating one token at a time)"
    text = (f"The student keeps {keep:.1f} % of the teacher's quality at {100 * size:.1f} % of "
            f"its size and {pace}.")
    if summary.get("gap_closed_pct") is not None:
        text += (f" It closes {summary['gap_closed_pct']:.1f} % of the gap to the teacher "
                 "(against the same student trained without one).")
    return text + (equal_compute_sentence(summary) if detail else "")


def equal_compute_sentence(summary: dict, detail: bool = True) -> str:
    """' At equal compute, distillation beat training without a teacher: …' from the baseline
    trained on to the student's FLOPs (the verdict: FLOPs do not depend on the machine) and,
    beside it, to its seconds; '' for a run without those figures."""
    student, flops = summary.get("student_ppl"), summary.get("equal_flops_baseline_ppl")
    if student is None or flops is None:
        return ""
    won = student < flops
    text = (f" At equal compute, distillation {'beat' if won else 'did not beat'} training "
            "without a teacher")
    if not detail:
        return text + " for the same training FLOPs."
    text += (f": the baseline given the student's training FLOPs "
            f"({summary.get('equal_flops_baseline_steps'):,} steps) reached perplexity "
            f"{flops:.3f} against the student's {student:.3f}")
    timed = summary.get("equal_time_baseline_ppl")
    if timed is not None:
        same = (student < timed) == won
        text += (f"; given its training time ({summary.get('equal_time_baseline_steps'):,} steps "
                 f"on this machine) {timed:.3f}{'' if same else ', which reverses the verdict'}")
    return text + "."


def run_caption(config: dict) -> str:
    """One line saying what a run trains, from its config.json."""
    return (f"{config.get('student')} learning from {config.get('teacher')} on "
            f"{config.get('dataset')} · α = {config.get('alpha')} · T = "
            f"{config.get('temperature')} · {config.get('loss')} · {config.get('steps')} steps")


def notice(run, status: dict, step: int) -> tuple[str, str] | None:
    """("warning" | "error", text) for a run whose process vanished, that failed or that was
    cancelled (at `step`); None for a run that is waiting, training or done."""
    log = run.path / "log.txt"
    if jobs.stalled(status):
        return "warning", ("The process training this run has stopped without saying why; "
                           f"see {log}.")
    if status.get("state") == "failed":
        return "error", status.get("error") or f"The run failed; see {log}."
    if status.get("state") == "cancelled":
        return "warning", f"Cancelled at step {step}; the student so far is in {run.student_dir}."
    return None
