"""File locks between processes: one creator of a cache entry, one process counting the queue.

    with exclusive_lock(root / ".queue.lock"):
        ...  # no other process holding a lock on that file is in its block

A POSIX advisory lock (fcntl.flock) on a small file beside what it guards; the file is created
if missing and left in place (removing it would let two processes lock two different files).
The lock goes with the process, so a crash never leaves it held. Where fcntl does not exist
(Windows) there is no lock: callers there rely on their atomic renames alone.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["exclusive_lock"]


@contextlib.contextmanager
def exclusive_lock(path):
    """Hold an exclusive lock on the file `path` for the block, waiting until no other process
    holds one."""
    with open(Path(path), "a") as f:
        if fcntl is None:
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
