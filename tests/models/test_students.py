"""Which teacher layers a copied student keeps: spread evenly, or the first and last ones."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from distill_core import models
from distill_core.errors import InputError
from distill_core.models.students import teacher_layer_map


def test_layer_maps():
    assert teacher_layer_map("teacher_layers", 15, 30) == list(range(0, 30, 2))
    assert teacher_layer_map("teacher_ends", 15, 30) == [*range(5), *range(20, 30)]
    assert teacher_layer_map("teacher_ends", 2, 4) == [0, 3]
    assert teacher_layer_map("teacher_ends", 1, 4) == [0]
    assert teacher_layer_map("teacher_ends", 4, 4) == [0, 1, 2, 3]
    with pytest.raises(InputError):
        teacher_layer_map("random", 2, 4)


def test_ends_student_copies_the_first_and_last_layers_of_a_llama_teacher():
    teacher = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128,
                                           num_hidden_layers=6, num_attention_heads=4,
                                           num_key_value_heads=2))
    student = models.make_student(teacher, n_layer=3, init="teacher_ends")
    assert student.config.num_hidden_layers == 3 and student.training
    for i, j in enumerate([0, 4, 5]):
        for (name, p), (_, q) in zip(student.model.layers[i].named_parameters(),
                                     teacher.model.layers[j].named_parameters()):
            assert torch.equal(p, q), (i, j, name)
    assert torch.equal(student.model.norm.weight, teacher.model.norm.weight)
    assert torch.equal(student.lm_head.weight, teacher.lm_head.weight)


def test_half_ends_preset_is_half_the_teachers_layers():
    assert models.PRESETS["half-ends"]["init"] == "teacher_ends"
    assert models.resolve("builtin:half-ends").kind == "preset"
    teacher, _ = models.load_teacher("builtin:teacher")
    student = models.load_student("builtin:half-ends", teacher)
    assert student.config.n_layer == teacher.config.n_layer // 2
