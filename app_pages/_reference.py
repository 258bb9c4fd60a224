"""The reference results on the pages (distill_core/app/reference.py): the plain label that says
what they are, the default run's results on the Distill page, and the card that says whether a
user's rerun reproduced them. The reference folder is only ever read here."""

import streamlit as st

from distill_core.app import reference, report
from distill_core.store.runs import list_runs, load_run
from distill_core.training import sweep

ICON = ":material/history_edu:"


def reference_note(entry: dict, what: str = "reference run", before: str = "") -> None:
    """'Reference run, measured on <machine>, <date> (`command`); train your own to compare.'"""
    st.info(before + reference.note(entry, what), icon=ICON)


def reproduction_card(outcome: dict, whose: str = "Your run") -> None:
    """Green when reproduced, orange when not, grey when it cannot be told."""
    show = {True: st.success, False: st.warning, None: st.info}[outcome["reproduced"]]
    show(f"**{whose}.** {outcome['text']}", icon=":material/replay:")


def run_against_reference(run_id: str, summary: dict, root=None) -> bool:
    """The reproduction card for a finished run with the reference default run's settings;
    False (and nothing drawn) for any other run."""
    if not summary or not reference.is_default_run(load_run(run_id, root).config()):
        return False
    reproduction_card(reference.run_reproduction(summary, reference.reference_summaries()),
                      f"Run {run_id} has the default run's settings")
    return True


def reference_curves(picked: list[str]) -> dict:
    """{"reference run (seed 0)": its metrics} when a picked run has the default run's settings
    (Compare draws it beside them), else {}."""
    ref = reference.default_run()
    if ref is None or not any(reference.is_default_run(load_run(i).config()) for i in picked):
        return {}
    return {f"reference run (seed {ref.config().get('seed', 0)})": ref.metrics()}


def default_run_results() -> None:
    """The reference default run's verdict and numbers (Distill, before any run of one's own)."""
    run = reference.default_run()
    if run is None or not (summary := run.summary()):
        return
    with st.expander("What the default run gives (the reference run)", expanded=True):
        reference_note(reference.default_entry(), "reference run")
        words, numbers = st.columns([1, 1])
        words.markdown(f"**{report.run_caption(run.config())}**, with the same student trained "
                       "without the teacher beside it: its final numbers are on the right. "
                       "Press Start below to train your own.")
        rows = report.verdict_rows(summary)
        numbers.table({"metric": [label for label, _ in rows],
                       "value": [value for _, value in rows]})


def has_sweep_to_show(root) -> bool:
    """Whether the Sweep page has a sweep to show (the user's, or the reference's); no output."""
    return bool(sweep.list_sweeps(root) or reference.sweep_entry())


def sweeps_to_show(root) -> tuple:
    """(runs root, sweep ids) for the Sweep page: the user's sweeps under `root`, else the
    reference sweep (labelled as such), else a note that there is none and the page stops."""
    if sweeps := sweep.list_sweeps(root):
        return root, sweeps
    if entry := reference.sweep_entry():
        reference_note(entry, "reference sweep", before="No sweep of yours yet. ")
        return reference.reference_root(), [entry["id"]]
    st.info("No sweep yet: pick a small grid above and launch it.")
    st.stop()


def experiment_against_reference(result: dict, entry: dict | bool) -> None:
    """Under a user's experiment result: whether it reproduced the reference `entry`'s (none
    drawn when there is no reference entry, or the result shown is the reference)."""
    if not entry or (ref := reference.reference_result(result["name"])) is None:
        return
    reproduction_card(reference.experiment_reproduction(result, ref),
                      f"Against the reference result ({entry['created'][:10]}, "
                      f"{entry['machine']})")


def runs_to_compare(rows: list[dict]) -> tuple:
    """(None, the user's list_runs rows) when there are any; else (the reference root, its
    runs' rows, the default run's seeds marked "default"), labelled as reference; else (None,
    [])."""
    if rows or not (runs := reference.default_runs()):
        return None, rows
    root = runs[0].root
    reference_note(reference.default_entry(), before="No runs of yours yet. ")
    seeds = {run.id: n for n, run in enumerate(runs)}  # the default run's, seed 0 first
    rows = sorted(list_runs(root), key=lambda r: seeds.get(r["id"], len(seeds)))
    return root, [{**r, "default": r["id"] in seeds} for r in rows]
