"""Writing files so that readers (and crashes) see the old file or the new one, never half.

Used by every layer that writes: the run store, uploads, caches.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def json_safe(obj):
    """A copy of `obj` with NaN and ±inf floats replaced by None (strict JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX only; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` so that readers (and crashes) see the old file or the new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path, text: str) -> None:
    """`atomic_write_bytes` of `text` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def overwrite(path: Path, data: bytes) -> None:
    """Write `data` over an existing file in place: no new disk blocks for a file no longer
    than before. Not atomic; only for a status that could not be written any other way."""
    fd = os.open(path, os.O_WRONLY)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path, obj) -> None:
    """`atomic_write_text` of `obj` as indented strict JSON (NaN/inf stored as null)."""
    atomic_write_text(path, json.dumps(json_safe(obj), indent=1, allow_nan=False) + "\n")
