"""The teacher cache: the teacher's next-token distributions, computed once, reused by every run.

Over the same data the teacher's forward pass gives the same answer in every run, and it is most
of a distillation step's work. The cache keeps, per token position, the teacher's k most likely
next tokens (log-probabilities at T = 1 and token ids) and the log of the mass left over for the
rest of the vocabulary, in 16-bit numbers, in memory-mapped files:

    <cache root>/<key>/
        meta.json   what the key was made of, shapes, dtypes
        logp.f16    (N, L, k) float16   the k largest log-probabilities      L = seq_len - 1
        ids.i16     (N, L, k) int16     their token ids (int32 when the vocabulary is > 32767)
        rest.f16    (N, L)    float16   log of the remaining probability mass
        nll.f32     (N, L)    float32   the teacher's loss on the real next token (evaluation)
        filled.u8   (N,)      uint8     1 where block n is written

key = hash(teacher weights, tokenizer vocabulary, the token blocks themselves, k, the teacher's
number format, vocabulary size): change any of them and runs use a new folder, so a stale cache
is never read. Blocks are filled lazily: a run computes the teacher only on blocks no earlier run
has cached, so a cached run is never slower than a live one and the second run onwards does not
run the teacher at all. Only the rows of the current batch are read into memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from distill_core import models
from distill_core.errors import InputError
from distill_core.kd.losses import TopK, top_k_of_log_probs
from distill_core.locks import exclusive_lock
from distill_core.model_mode import eval_mode
from distill_core.user_cache import CACHE_DIR_ENV

DEFAULT_K = 64  # 98.5 % of the built-in teacher's probability mass: bench/topk_coverage.py

__all__ = ["CACHE_DIR_ENV", "DEFAULT_K", "TeacherCache", "cache_root", "coverage", "fingerprint",
           "list_caches", "open_cache", "remove_cache"]


def cache_root(runs_root=None) -> Path:
    """$DISTILL_CACHE_DIR, else `<runs root>/_teacher_cache` (not a valid run id, so not listed)."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    from distill_core.store.runs import runs_root as default_runs_root

    return default_runs_root(runs_root) / "_teacher_cache"


def fingerprint(teacher, tokenizer, blocks: torch.Tensor, k: int, dtype: str, vocab: int) -> str:
    """The cache key: a hash of everything the cached numbers depend on."""
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(teacher.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(blocks.to(torch.int64).contiguous().numpy().tobytes())
    h.update(json.dumps([list(blocks.shape), int(k), dtype, int(vocab)]).encode())
    return h.hexdigest()


class TeacherCache:
    """One cache folder, opened for reading and lazy filling."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        n, length, k = self.meta["blocks"], self.meta["positions"], self.meta["k"]
        id_dtype = np.int16 if self.meta["ids_dtype"] == "int16" else np.int32
        self.k, self.vocab = k, self.meta["vocab"]
        self.logp = np.memmap(self.folder / "logp.f16", np.float16, "r+", shape=(n, length, k))
        self.ids = np.memmap(self.folder / self.meta["ids_file"], id_dtype, "r+",
                             shape=(n, length, k))
        self.rest = np.memmap(self.folder / "rest.f16", np.float16, "r+", shape=(n, length))
        self.nll = np.memmap(self.folder / "nll.f32", np.float32, "r+", shape=(n, length))
        self.filled = np.memmap(self.folder / "filled.u8", np.uint8, "r+", shape=(n,))
        self.computed = 0  # blocks this process ran the teacher on

    @property
    def key(self) -> str:
        return self.folder.name

    def missing(self, idx: torch.Tensor) -> torch.Tensor:
        """The block indices among `idx` not cached yet."""
        idx = idx.cpu()
        return idx[torch.from_numpy(self.filled[idx.numpy()] == 0)]

    @torch.inference_mode()
    def fill(self, teacher, blocks: torch.Tensor, idx: torch.Tensor, autocast=None,
             batch_size: int = 16, vocab: int | None = None) -> int:
        """Run the teacher on the blocks[idx] not cached yet and store them; returns how many."""
        todo = self.missing(idx).unique()
        device = next(teacher.parameters()).device
        for start in range(0, len(todo), batch_size):
            part = todo[start:start + batch_size]
            x = blocks[part].to(device)  # (b, T)
            with autocast() if autocast else torch.autocast("cpu", enabled=False):
                logits = models.next_token_logits(teacher, x, vocab or self.vocab)  # (b, L, V)
            log_p = torch.log_softmax(logits.float(), -1)  # (b, L, V)
            t = top_k_of_log_probs(log_p, self.k)  # (b, L, k) entries
            nll = -log_p.gather(-1, x[:, 1:, None]).squeeze(-1)  # (b, L)
            rows = part.numpy()
            self.logp[rows] = t.logp.cpu().numpy().astype(np.float16)
            self.ids[rows] = t.ids.cpu().numpy().astype(self.ids.dtype)
            self.rest[rows] = t.log_rest.clamp_min(-60000).cpu().numpy().astype(np.float16)
            self.nll[rows] = nll.cpu().numpy()
            self.filled[rows] = 1  # after the numbers: a killed process leaves no false 1s
        self.computed += len(todo)
        return len(todo)

    def flush(self) -> None:
        """Write the mapped pages to disk (the OS does it anyway; this is for machine crashes)."""
        for arr in (self.logp, self.ids, self.rest, self.nll, self.filled):
            arr.flush()

    def targets(self, idx: torch.Tensor, device="cpu") -> TopK:
        """The cached teacher distribution for blocks[idx]: a TopK with (b, L, k) entries."""
        rows = idx.cpu().numpy()
        if not self.filled[rows].all():
            raise InputError("the teacher cache has no entry for some of these blocks; fill it "
                             "first")
        logp = torch.from_numpy(np.ascontiguousarray(self.logp[rows])).to(device)
        ids = torch.from_numpy(np.ascontiguousarray(self.ids[rows])).to(device)
        rest = torch.from_numpy(np.ascontiguousarray(self.rest[rows])).to(device)
        return TopK(logp, ids, rest, self.vocab)

    def teacher_nll(self, idx: torch.Tensor) -> torch.Tensor:
        """The teacher's loss on each real next token of blocks[idx]: (b, L) float32."""
        return torch.from_numpy(np.ascontiguousarray(self.nll[idx.cpu().numpy()]))

    def disk_bytes(self) -> int:
        """Bytes the cache really occupies on disk (the files are sparse until filled)."""
        return sum(p.stat().st_blocks * 512 for p in self.folder.iterdir() if p.is_file())

    def batch_bytes(self, batch_size: int) -> int:
        """Bytes read into memory for one batch of `batch_size` blocks."""
        per_position = self.k * (2 + self.ids.dtype.itemsize) + 2 + 4
        return batch_size * self.meta["positions"] * per_position

    def report(self, batch_size: int) -> dict:
        filled = int(np.count_nonzero(self.filled))
        return {"teacher_cache_key": self.key, "teacher_cache_k": self.k,
                "teacher_cache_blocks": filled, "teacher_cache_computed": self.computed,
                "teacher_cache_disk_mb": self.disk_bytes() / 1e6,
                "teacher_cache_batch_mb": self.batch_bytes(batch_size) / 1e6}


def open_cache(root, teacher, tokenizer, blocks: torch.Tensor, k: int, dtype: str,
               vocab: int) -> TeacherCache:
    """The cache for this teacher and these blocks, created (empty) if it does not exist."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= vocab:
        raise InputError(f"teacher cache k must be from 1 to the vocabulary size {vocab}, got {k}")
    key = fingerprint(teacher, tokenizer, blocks, k, dtype, vocab)
    root = Path(root)
    folder = root / key
    try:
        root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(root / f".{key}.lock"):  # one creator; others wait, then open it
            if not (folder / "meta.json").exists():
                _create(folder, len(blocks), blocks.shape[1] - 1, k, dtype, vocab)
    except OSError as err:
        raise InputError(f"cannot write the teacher cache under {root}: {err.strerror or err}") \
            from None
    return TeacherCache(folder)


def _create(folder: Path, n: int, length: int, k: int, dtype: str, vocab: int) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ids_dtype = "int16" if vocab <= np.iinfo(np.int16).max else "int32"
    files = {"logp.f16": (np.float16, (n, length, k)),
             f"ids.{ids_dtype[:1]}{ids_dtype[3:]}": (np.dtype(ids_dtype), (n, length, k)),
             "rest.f16": (np.float16, (n, length)), "nll.f32": (np.float32, (n, length)),
             "filled.u8": (np.uint8, (n,))}
    for name, (np_dtype, shape) in files.items():  # sparse files: no disk used until written
        with open(tmp / name, "wb") as f:
            f.truncate(int(np.prod(shape)) * np.dtype(np_dtype).itemsize)
    meta = {"blocks": n, "positions": length, "k": k, "vocab": vocab, "teacher_dtype": dtype,
            "ids_dtype": ids_dtype, "ids_file": f"ids.{ids_dtype[:1]}{ids_dtype[3:]}"}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder)


def list_caches(root) -> list[dict]:
    """One row per cache folder: key, k, blocks filled of total, disk MB."""
    rows = []
    for folder in sorted(Path(root).glob("*/meta.json")):
        cache = TeacherCache(folder.parent)
        rows.append({"key": cache.key, "k": cache.k, "blocks": cache.meta["blocks"],
                     "filled": int(np.count_nonzero(cache.filled)),
                     "disk_mb": cache.disk_bytes() / 1e6})
    return rows


def remove_cache(root, key: str) -> None:
    folder = Path(root) / key
    if not (folder / "meta.json").exists() or folder.parent != Path(root):
        raise InputError(f"no teacher cache '{key}' under {root}")
    shutil.rmtree(folder)


@torch.inference_mode()
def coverage(teacher, blocks: torch.Tensor, ks=(1, 4, 8, 16, 32, 64, 128),
             batch_size: int = 16) -> dict[int, float]:
    """Mean teacher probability mass that its top-k tokens hold, per k, over `blocks`."""
    sums, count = {k: 0.0 for k in ks}, 0
    with eval_mode(teacher):
        for start in range(0, len(blocks), batch_size):
            x = blocks[start:start + batch_size]
            logits = models.next_token_logits(teacher, x)  # (b, L, V)
            probs = torch.softmax(logits.float(), -1)
            top = probs.topk(max(ks), dim=-1).values.cumsum(-1)  # (b, L, max k)
            for k in ks:
                sums[k] += top[..., k - 1].sum().item()
            count += top[..., 0].numel()
    return {k: sums[k] / count for k in ks}
