"""What the Streamlit app needs beyond the core, all testable without Streamlit: the checks made
before a run or a sweep starts (launch), the settings form described as data (form), which
folders the app may read (paths), shareable links (share), presets and the short-run shape, the
lesson's steps, verdicts and progress text (report), the readouts pages show (metric_rows), the
runs a page offers to pick (picks), plotly figure builders (viz), exports and uploads.

May import every layer below (kd, models, data, store, training). Page files import this.
"""
