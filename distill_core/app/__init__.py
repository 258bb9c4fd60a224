"""What the Streamlit app needs beyond the core, all testable without Streamlit: the checks made
before a run or a sweep starts (launch), the settings form described as data (form), which
folders the app may read (paths), the one policy-checked way it loads a model (model_policy:
shared folders, allow_hub, the server's limits), shareable links (share), presets and the short-run shape, the
lesson's steps, verdicts and progress text (report), the readouts pages show (metric_rows), the
runs a page offers to pick (picks), plotly figure builders (viz), exports and uploads, exports
to the trainers people scale with (export_targets: the mapping tables as data; export_files:
the files), the tools' loss conventions side by side (conventions), the Alignment page's
figures of two tokenizations (alignment_view), and the shipped reference
results with the one test of whether a rerun reproduced them (reference).

May import every layer below (kd, models, data, store, training). Page files import this.
"""
