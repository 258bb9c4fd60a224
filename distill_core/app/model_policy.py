"""The one way the app loads a model: every page, and every model a link names, passes here.

    spec = allowed_model(spec, "teacher", limits)     # InputError (one line) when not allowed
    model, tokenizer = load_teacher(spec, limits)     # the same check, then a load within limits

What the app may use, with this server's `Limits` (read once per script run by the caller):

    built-in models and presets        always
    a local folder                     only inside a folder the app shares (app.paths)
    a Hugging Face id                  only while `allow_hub` is on (DISTILL_ALLOW_HUB)
    a pretrained model (smollm2-135m)  once fetched (the Pair page fetches it, with progress)

Loading then refuses a model over `max_model_params` or one that does not fit `max_memory_gb`
(or the free memory) before any weight is read (models.memory). No Streamlit here.
"""

from __future__ import annotations

from distill_core import models
from distill_core.app.paths import require_shared_model
from distill_core.errors import InputError
from distill_core.policy import Limits, check_hub

__all__ = ["allowed_model", "load_student", "load_teacher", "load_tokenizer", "unfetched"]


def allowed_model(spec: str, role: str, limits: Limits, root=None) -> str:
    """`spec`, stripped, if the app may use it as `role` under `limits`; else InputError."""
    spec = (spec or "").strip()
    require_shared_model(spec, role, root, limits)  # before resolve: a path not shared says no more
    try:
        kind = models.resolve(spec).kind
    except InputError as err:
        raise InputError(f"{role}: {err}") from None
    if kind == "hub":
        check_hub(spec, role, limits)
    return spec


def unfetched(*specs: str) -> list[str]:
    """The pretrained models among `specs` that are not on this machine yet."""
    return [s.strip() for s in specs if s.strip() in models.PRETRAINED
            and not models.is_fetched(s.strip())]


def _ready(spec: str, role: str, limits: Limits, root) -> str:
    spec = allowed_model(spec, role, limits, root)
    if unfetched(spec):  # the loaders never fetch: the page offers it, with its progress
        raise InputError(f"{spec} is not on this machine yet: fetch it on the Pair page "
                         f"(or run `distill fetch {spec}`)")
    return spec


def load_teacher(spec: str, limits: Limits, root=None):
    """(model, tokenizer), frozen, eval mode, if the app may load `spec` as its teacher."""
    return models.load_teacher(_ready(spec, "teacher", limits, root), limits=limits)


def load_student(spec: str, teacher, limits: Limits, root=None):
    """The student before training (a preset is made from the loaded `teacher`, seed 0)."""
    return models.load_student(_ready(spec, "student", limits, root), teacher, limits=limits)


def load_tokenizer(spec: str, teacher_spec: str, limits: Limits, root=None):
    """The student's own tokenizer (a preset uses the teacher's)."""
    return models.load_tokenizer(_ready(spec, "student", limits, root),
                                 _ready(teacher_spec, "teacher", limits, root))
