"""Text files a user uploads in the app, kept under `<runs root>/uploads/` so runs can read them.

    path = save_upload("my stories.txt", data)      # <root>/uploads/3f2a9c01be-my_stories.txt
    config = DistillConfig(dataset=str(path))

The stored name is the upload's own name made safe (basename only, letters, digits, '.', '_'
and '-', no leading dot) behind a short hash of the content, so two different files never
collide and the same file uploaded twice is stored once. Only UTF-8 text is kept: .txt, .jsonl
and .csv, at most `max_bytes` (default: this server's DISTILL_MAX_DATA_MB, see limits.py).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from distill_core.data.corpora import decode_text
from distill_core.errors import InputError
from distill_core.files import atomic_write_bytes
from distill_core.policy import Limits
from distill_core.store.limits import data_cap_bytes
from distill_core.store.runs import runs_root

UPLOAD_SUFFIXES = (".txt", ".jsonl", ".csv")
MAX_UPLOAD_BYTES = 50_000_000  # the default cap (limits.max_data_mb), the same as data files'
HASH_CHARS = 10


def upload_limit_mb(root=None, limits: Limits | None = None) -> int:
    """The upload cap in whole MB, for the uploader widget (at least 1): `limits`' (the app
    passes those it read for this script run), else the server's. A broken limits file gives the
    default here; `save_upload` reports it."""
    if limits is not None:
        return max(1, int(limits.max_data_mb))
    try:
        return max(1, data_cap_bytes(root) // 1_000_000)
    except InputError:
        return MAX_UPLOAD_BYTES // 1_000_000


def save_upload(filename: str, data: bytes, root=None, max_bytes: int | None = None) -> Path:
    """Check an uploaded file and store it under `<root>/uploads/`; return its path."""
    name = safe_name(filename)
    if max_bytes is None:
        max_bytes = data_cap_bytes(root)
    if len(data) > max_bytes:
        raise InputError(f"{name} is {_mb(len(data))}, over the upload limit of {_mb(max_bytes)}: "
                         "use a smaller file")
    decode_text(data, name, upload=True)
    folder = runs_root(root) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:HASH_CHARS]}-{name}"
    if not (path.is_file() and path.read_bytes() == data):
        atomic_write_bytes(path, data)
    return path


def safe_name(filename: str) -> str:
    """A safe basename with an allowed suffix: '../x/My data!.TXT' -> 'My_data_.txt'."""
    base = re.split(r"[\\/]", str(filename or ""))[-1]
    stem, dot, suffix = base.rpartition(".")
    suffix = "." + suffix.lower() if dot else ""
    if suffix not in UPLOAD_SUFFIXES:
        raise InputError(f"cannot use {base or 'a file without a name'!r}: upload a "
                         f"{', '.join(UPLOAD_SUFFIXES)} file")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".")[:80] or "upload"
    return stem + suffix


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e6:.2g} MB"
