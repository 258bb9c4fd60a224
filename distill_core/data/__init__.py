"""Text in, token blocks out: the built-in corpora (tinytales, python-docs), user files (.txt,
.jsonl, .csv) and hub datasets as "train"/"validation" splits (corpora), the synthetic story
grammar with exact log-probabilities (tinytales), and packing into fixed blocks.

May import: `errors`, `policy`, `paths`, and the `datasets` library. Never models, training,
store or app; size caps come in as arguments.
"""
