"""distill_core: knowledge distillation of language models, the library under Distillation Playground."""

from distill_core.errors import InputError

__all__ = ["InputError"]
