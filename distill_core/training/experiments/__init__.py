"""Experiments: the lesson's five claims about distillation, each tested by runs on this machine.

    result = run("temperature", SIZES["tiny"])   # plans, trains, writes its folder, returns it
    result["header"], result["rows"], result["finding"]

An experiment plans its runs from a base DistillConfig and a Size (sizes: "default" takes
minutes on a 2-core CPU, "tiny" seconds, for tests), trains them one after another, sharing what
can be shared (one loaded teacher and data while runs share them, the teacher cache, speeds
measured once per student shape), and keeps one record per run: its labels and its summary's
numbers (records). Its table and its one-sentence finding are pure functions of those records,
so the sentence is computed from the numbers, never written in advance; a finding is a few
named clauses, each a function of the records.

    soft-labels   KD against the no-teacher baseline (same batches) at several data sizes
    temperature   the student's perplexity over T at fixed α, beside the teacher's entropy and
                  top-k probability mass over T (one teacher pass on validation text)
    capacity      tiny → large students from one teacher; the trained teacher against its
                  early snapshot (builtin:teacher-early) for the same student
    tuning        the α × T grid and a no-teacher reference, its best two cells repeated
    limits        perplexity against size and measured speed (the Pareto front), and an
                  imperfect teacher against no teacher at all

The teacher cache serves the experiments that train at T = 1, where its top-k tokens and one
"rest" bucket give the teacher's probabilities exactly; temperature and tuning, which train at
T up to 8, run the teacher live, since at T = 4 the built-in teacher's top 64 tokens hold only
about a sixth of its softened probability and the cache would have to guess the rest.

Runs repeated over seeds (each seed draws its own data, batch order and initial weights) are
reported as mean ± spread, the spread being the sample standard deviation; two groups differ
"clearly" only when their mean ± spread intervals do not overlap (training/stats.py), compared
seed by seed where both have the seed (comparisons).

Modules: registry (names, claims, get, summarize), sizes, records (trials, training them, the
record helpers), comparisons and wording (statistics and phrases findings share), labels (model
names), one module per claim (plan, table, finding and its clauses), folders (the result
folder: status, result files, reading them back), runner (`run`).
"""

from distill_core.training.experiments.folders import (FOLDER, list_results, load_result,
                                                       new_folder, write_status)
from distill_core.training.experiments.labels import EARLY_TEACHER, student_start
from distill_core.training.experiments.limits import limits_points
from distill_core.training.experiments.records import RECORD_METRICS, Trial, train_trials
from distill_core.training.experiments.registry import EXPERIMENTS, NAMES, get, summarize
from distill_core.training.experiments.runner import run
from distill_core.training.experiments.sizes import SIZES, Size, size_named
from distill_core.training.experiments.temperature import teacher_profile
from distill_core.training.experiments.tuning import best_cells

__all__ = ["EARLY_TEACHER", "EXPERIMENTS", "FOLDER", "NAMES", "RECORD_METRICS", "SIZES", "Size",
           "Trial", "best_cells", "get", "limits_points", "list_results", "load_result",
           "new_folder", "run", "size_named", "student_start", "summarize",
           "teacher_profile", "train_trials", "write_status"]
