"""Everything on disk between runs: a run is its directory (runs: config, status, metrics,
summary, students), the background queue that starts runs as processes and cancels them (jobs),
and reading a server's limits from the environment or classroom.toml (limits).

May import: `errors`, `files`, `policy`, `config`. Never kd, models, data, training or app: the
store does not know how a run trains; the queue starts `distill run --run-id` processes.
"""
