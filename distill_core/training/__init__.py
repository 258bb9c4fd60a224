"""Training and measuring: the distillation loop (loop), the teacher source live or cached (with
the top-k teacher cache), evaluation, checkpoints and resume, throughput and MFU, the probes
the scrubber replays, sweeps, and the script that builds the built-in teacher.

May import: `kd`, `models`, `data`, `store`, `config`, `errors`, `files`, `policy`. Never app.
Limits are read here, once per run, from the run's own runs root (store.limits) and passed down.
"""
