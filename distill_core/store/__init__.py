"""Everything on disk between runs: a run is its directory (runs: config, status, metrics,
summary, students), the fingerprint of a run's settings (settings_hash), the background queue
that starts runs and sweeps as processes and cancels them (jobs), which runs may train side by
side in one process (groups), which process a run belongs to
(processes: pid, start time, boot id), and reading a server's limits from the environment or
classroom.toml (limits).

May import: `errors`, `files`, `paths`, `policy`, `config`, `metrics`, `locks`. Never kd, models,
data, training or app: the store does not know how a run trains; the queue starts `distill run
--run-id`, `distill run --side-by-side` and `distill sweep --sweep-id` processes.
"""
