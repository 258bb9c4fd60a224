"""Which settings a run has: a fingerprint of everything that decides its numbers.

`config_hash(config)` is 16 hex digits, the same for two configs exactly when they train the
same numbers. It covers:

- the validated config (defaults filled in, 300.0 -> 300, choices in lower case) without the
  fields that change none of the numbers (name, runs_dir);
- the package version (new code may train other numbers);
- the bytes of each local file that teacher, student or dataset names (a model folder: every
  file in it). The SHA-256 of a file is kept by (path, size, mtime, and ctime and inode),
  in this process and in `<runs root>/.file_hashes.json`, so a second hash of the same files
  reads nothing: a file that was only touched keeps its hash, one edited in place gets a new
  one even if its size and mtime stay the same;
- for a hub id, the commit the local Hugging Face cache resolves it to (refs/main), or None
  when it is not cached (offline, nothing is asked of the hub).

jobs.launch attaches a Start to a run whose status holds the same hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from distill_core.files import atomic_write_json
from distill_core.paths import looks_like_path

RESULT_NEUTRAL_FIELDS = ("name", "runs_dir")  # where a run is stored and what it is called
INPUT_FIELDS = ("teacher", "student", "dataset")  # may name local files or hub ids
MODEL_FIELDS = ("teacher", "student")
HASH_CACHE_NAME = ".file_hashes.json"
PACKAGE = "distill-playground"

__all__ = ["HASH_CACHE_NAME", "INPUT_FIELDS", "RESULT_NEUTRAL_FIELDS", "config_hash",
           "file_digest", "hub_revision", "package_version"]

_digests: dict[str, str] = {}  # "path|size|mtime_ns" -> sha256 hex, for this process


def package_version() -> str:
    """The installed distill-playground version ('unknown' when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown"


def _stamp(path: Path) -> str:
    """path|size|mtime|ctime+inode: the ctime changes with every write, even one whose mtime
    was set back, and the inode with a file replaced by another."""
    info = path.stat()
    return f"{path}|{info.st_size}|{info.st_mtime_ns}|{info.st_ctime_ns}:{info.st_ino}"


def file_digest(path, disk: dict | None = None) -> str:
    """SHA-256 of the bytes of `path`, reused while its (path, size, mtime) are unchanged:
    from this process's memory, else from `disk` (a loaded cache file, updated in place)."""
    path = Path(path).resolve()
    key = _stamp(path)
    digest = _digests.get(key) or (disk or {}).get(key)
    if digest is None:
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        digest = sha.hexdigest()
        if disk is not None:  # the file's older stamps are of no use any more
            for old in [k for k in disk if k.rsplit("|", 3)[0] == str(path)]:
                del disk[old]
            disk[key] = digest
    _digests[key] = digest
    return digest


def _content(value: str, disk: dict) -> list:
    """[resolved path, [name, sha256] of the file or of each file in the folder]."""
    path = Path(value).expanduser().resolve()
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    return [str(path), [[f.name, file_digest(f, disk)] for f in files]]


def hub_revision(repo_id: str, kind: str = "model") -> str | None:
    """The commit the local Hugging Face cache resolves `repo_id` to (its refs/main), else the
    one snapshot cached; None when it is not cached or the cache does not say."""
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / f"{kind}s--{repo_id.replace('/', '--')}"
    try:
        return (folder / "refs" / "main").read_text().strip() or None
    except OSError:
        pass
    try:
        snapshots = [p.name for p in (folder / "snapshots").iterdir() if p.is_dir()]
    except OSError:
        return None
    return snapshots[0] if len(snapshots) == 1 else None


def _hub_revisions(settings: dict) -> dict:
    """{field: cached commit or None} for each teacher, student or dataset that is a hub id."""
    out = {}
    for field in INPUT_FIELDS:
        spec = str(settings.get(field) or "").strip()
        if not spec or spec.startswith("builtin:") or looks_like_path(spec):
            continue
        kind = "model" if field in MODEL_FIELDS else "dataset"
        revision = hub_revision(spec, kind)
        if revision is not None or "/" in spec:  # a plain name that is not cached is ours
            out[field] = revision
    return out


def _load_disk_cache(root: Path | None) -> dict:
    if root is None:
        return {}
    try:
        data = json.loads((root / HASH_CACHE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def config_hash(config, root=None) -> str:
    """16 hex digits that are the same for two configs (dicts or DistillConfigs) exactly when
    they train the same numbers (see the module's docstring). `root` (default: the config's
    runs_dir) is the runs root whose file-hash cache is used, when that folder exists. Raises
    InputError for a config that is not valid."""
    from distill_core.config import DistillConfig  # (torch, via kd: only when a run is made)

    if isinstance(config, DistillConfig):
        config = config.to_dict()
    settings = DistillConfig.from_dict(config).to_dict()
    kept = {k: v for k, v in settings.items() if k not in RESULT_NEUTRAL_FIELDS}
    kept["package_version"] = package_version()
    root = root or settings.get("runs_dir")
    root = Path(root).expanduser() if root and Path(root).expanduser().is_dir() else None
    disk = _load_disk_cache(root)
    size = len(disk)
    kept["local_files"] = {k: _content(settings[k], disk) for k in INPUT_FIELDS
                           if settings[k] and Path(settings[k]).expanduser().exists()}
    kept["hub_revisions"] = _hub_revisions(settings)
    if root is not None and len(disk) != size:
        try:
            atomic_write_json(root / HASH_CACHE_NAME, disk)
        except OSError:
            pass  # a read-only or full runs root: the hash is right, only slower next time
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
