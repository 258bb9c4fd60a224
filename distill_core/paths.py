"""Is a spec a place on disk? One rule for model specs, data specs and the app's path checks."""

from __future__ import annotations

import os


def looks_like_path(spec: str) -> bool:
    """True when `spec` names a place on disk rather than a built-in name or a hub id: it starts
    with / . or ~, has a backslash or more than one /, or exists."""
    spec = spec.strip()
    if not spec or spec.startswith("builtin:"):
        return False
    return (spec.startswith(("/", ".", "~")) or "\\" in spec or spec.count("/") > 1
            or os.path.exists(os.path.expanduser(spec)))
