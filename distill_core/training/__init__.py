"""Training and measuring: what a run loads first (prepared), the distillation loop (loop) and
its state (run_state), runs trained side by side on one teacher forward per batch
(side_by_side), the teacher source live or cached (with
the top-k teacher cache), the hidden-state term (hidden_states: layer pairs, the projection
between widths, recording the paired layers' outputs), training across tokenizers
(cross_tokenizer: the teacher's tokens and groups per block, its source and loss), evaluation
and a run's validation record (validation), the baseline trained on to the distilled
student's FLOPs and seconds (equal_compute), checkpoints and resume, throughput and MFU, a
step's time from this machine's record (step_time), the probes
the scrubber replays, sweeps, the experiments (experiments/, a package: the lesson's five claims
as planned runs), and the script that builds the built-in teacher.

May import: `kd`, `models`, `data`, `store`, `config`, `errors`, `files`, `policy`, `metrics`,
`machine`, `locks`, `user_cache`, `model_mode`. Never app.
Limits are read here, once per run, from the run's own runs root (store.limits) and passed down.
"""
