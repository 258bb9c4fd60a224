"""Text in, token blocks out: the built-in corpora (tinytales, python-docs), user files (.txt,
.jsonl, .csv) and hub datasets as "train"/"validation" splits (corpora), the synthetic story
grammar with exact log-probabilities (tinytales), this Python's own documentation with a fixed
held-out set (python_docs), and packing into fixed blocks (corpora; for a
teacher and student whose tokenizers differ, blocks of one text in both, two_tokenizations).

May import: `errors`, `policy`, `paths`, and the `datasets` library. Never models, training,
store or app; size caps come in as arguments.
"""
