"""Will a model fit? Its size read from its files before loading it, and the memory this machine
has free, so a model too large is refused with the numbers instead of crashing the process.

    params = folder_params(folder)               # from the safetensors headers: no weights read
    require_loadable("local", folder, name, 4)   # InputError: "... needs ~X GB, Y GB available"

A safetensors file starts with an 8-byte length and a JSON header listing every tensor's dtype
and shape, so a model's parameter count costs one small read per file. Free memory is the
smallest of: MemAvailable in /proc/meminfo, the container's cgroup limit minus its usage, and
the configured `max_memory_gb` (see limits.py). Where none can be read, nothing is refused.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from distill_core.errors import InputError
from distill_core.policy import Limits, check_model_params, env_name

MAX_HEADER_BYTES = 100_000_000  # a safetensors header larger than this is not a real one
_NO_CGROUP_LIMIT = 2**60  # cgroup v1 writes ~2^63 for "no limit"


# ---------------------------------------------------------------------------------------------
# Model sizes, from files


def safetensors_params(path) -> int:
    """Number of parameters stored in one .safetensors file, from its header only."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not 0 < size <= MAX_HEADER_BYTES:
                raise ValueError("bad header length")
            header = json.loads(f.read(size))
        return sum(math.prod(t["shape"]) for name, t in header.items()
                   if name != "__metadata__")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"'{path}' is not a valid safetensors file (its header cannot be "
                         "read); download or save the model again") from None
    except OSError as err:
        raise InputError(f"cannot read '{path}': {err.strerror or err}") from None


def folder_params(folder) -> int | None:
    """Parameters in a model folder's safetensors files (None if it has none)."""
    files = sorted(Path(folder).glob("*.safetensors"))
    return sum(safetensors_params(p) for p in files) if files else None


def hub_params(repo_id: str, offline: bool) -> int | None:
    """Parameters of a hub model: from its cached files, else (online) the hub's own count."""
    from huggingface_hub import try_to_load_from_cache

    for name in ("model.safetensors", "model.safetensors.index.json"):
        cached = try_to_load_from_cache(repo_id, name)
        if isinstance(cached, str):
            return folder_params(Path(cached).parent)
    if offline:
        return None  # loading will say it is not downloaded
    try:
        from huggingface_hub import get_safetensors_metadata

        return sum(get_safetensors_metadata(repo_id).parameter_count.values())
    except Exception:  # noqa: BLE001 - unknown repo, no network: loading reports those itself
        return None


# ---------------------------------------------------------------------------------------------
# Memory, of this machine


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes() -> int | None:
    """Bytes this process could still allocate: the least of what the kernel and the cgroup say."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < _NO_CGROUP_LIMIT:
            found.append(max(0, cap - used))
    if not found:
        try:
            import psutil

            found.append(psutil.virtual_memory().available)
        except ImportError:
            pass
    return min(found) if found else None


def budget_bytes(limits: Limits) -> tuple[int | None, str]:
    """(bytes a run may use, where that number comes from) — None when nothing says."""
    free = available_bytes()
    if limits.max_memory_gb is not None:
        cap = int(limits.max_memory_gb * 1e9)
        if free is None or cap < free:
            return cap, f" (this server's limit, {env_name('max_memory_gb')})"
    return free, ""


def size_text(n: float) -> str:
    """Bytes for people: '4,000.0 GB', '1.2 GB', '350 MB', '0.35 MB'."""
    if n >= 1e9:
        return f"{n / 1e9:,.1f} GB"
    return f"{n / 1e6:,.0f} MB" if n >= 1e7 else f"{n / 1e6:.2f} MB"


def require_fits(need: float, what: str, limits: Limits, advice: str) -> None:
    """InputError "`what` needs ~X GB, Y GB available: `advice`" when `need` is over budget."""
    budget, source = budget_bytes(limits)
    if budget is not None and need > budget:
        raise InputError(f"{what} needs ~{size_text(need)}, {size_text(budget)} available"
                         f"{source}: {advice}")


def require_loadable(kind: str, path: str, name: str, bytes_per: int,
                     limits: Limits | None = None) -> int | None:
    """Refuse, before loading, a model over the parameter limit or too large for free memory.

    `kind` and `path` are a resolved model spec's (models.Spec); returns the parameter count
    (None where it cannot be known without downloading).
    """
    if kind in ("builtin", "local"):
        params = folder_params(path)
    elif kind == "hub":
        from distill_core.models.specs import hub_offline

        params = hub_params(path, offline=hub_offline())
    else:
        return None
    if params is None:
        return None
    limits = limits or Limits()  # no limits given: only free memory counts
    check_model_params(params, name, limits)
    require_fits(params * bytes_per, f"loading model '{name}' ({params:,} parameters)", limits,
                 "pick a smaller model or free some memory")
    return params


# ---------------------------------------------------------------------------------------------
# Cost at scale: bf16 mixed precision on GPUs, as TRL, Axolotl and DistillKit train

SCALE_BYTES = {"teacher": 2,  # bf16 weights, frozen: no grads, no optimiser
               "student": 16}  # bf16 weights + bf16 grads + fp32 master copy + 2 fp32 AdamW moments
LOGIT_BYTES = 4  # the loss upcasts logits to fp32


def at_scale(teacher_params: int, student_params: int, batch_size: int, seq_len: int,
             vocab: int | None) -> dict:
    """Bytes of one distillation step at scale, in parts:

        teacher    2 · teacher_params                 bf16 weights
        student    16 · student_params                weights, grads, fp32 master, 2 moments
        logits     3 · B · T · V · 4                  teacher's and student's fp32 logits and the
                                                      student's logit gradient: what Liger's fused
                                                      linear losses and Cut Cross-Entropy avoid,
                                                      by going chunk by chunk from hidden states
        total      the three (activations, which gradient checkpointing trades for time, and the
                   framework's workspace come on top); `fused` = total without the logits

    `vocab` None (unknown before download): logits and total are None, fused is still known.
    """
    for name, n in (("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"{name} must be a whole number of at least 1 (got {n!r})")
    parts = {"teacher": SCALE_BYTES["teacher"] * teacher_params,
             "student": SCALE_BYTES["student"] * student_params}
    parts["fused"] = parts["teacher"] + parts["student"]
    parts["logits"] = 3 * batch_size * seq_len * vocab * LOGIT_BYTES if vocab else None
    parts["total"] = parts["fused"] + parts["logits"] if vocab else None
    return parts


def parameter_count(text) -> int | None:
    """'124M' -> 124,000,000, '1.1B' -> 1,100,000,000, '82,000' -> 82000; None if unreadable."""
    if isinstance(text, int):
        return text
    s = str(text or "").strip().replace(",", "").upper()
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(s[-1:], 1)
    try:
        return int(float(s[:-1] if scale != 1 else s) * scale)
    except ValueError:
        return None
