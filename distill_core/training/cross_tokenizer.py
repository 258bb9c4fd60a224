"""Training across tokenizers: a teacher and a student that cut the text into different tokens.

    kind = cross_kind(config, teacher_tok, student_tok)     None (one tokenizer) | uld | aligned
    data = load_cross(config, corpus, teacher_tok, student_tok, kind, teacher_context)
    source = CrossTeacher(teacher, data, autocast)          the run's teacher source

The data step keeps each block's text in both tokenizations with character offsets
(data.two_tokenizations): the student's blocks are `Prepared.train_blocks` as usual (its own
tokens, its own cross-entropy), the teacher's ids for the same characters ride beside them, and
the groups where both cut the text alike (models.alignment) are computed once per block here
and travel with the batch. Each step the teacher reads its own tokens; the loss is
kd.cross_tokenizer's, α T² KD + (1 − α) CE as everywhere. The baseline is the student on its
own tokens with no teacher, as for any pair.

What works across tokenizers: the live teacher, the baseline, validation in bits per byte
(each model's loss over the bytes its own tokens spell). What does not: the teacher cache
(its top-k entries are per teacher token, indexed by the student's blocks), hidden-state
distillation (positions do not correspond), on-policy sequences (the teacher would have to
re-read what the student wrote) and the same-tokenizer divergences (`loss`): each is refused
with one line.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from distill_core import models
from distill_core.errors import InputError
from distill_core.kd.cross_tokenizer import Groups, cross_tokenizer_kd_loss
from distill_core.kd.fused import Head, head_logits
from distill_core.models.alignment import align_tokens, group_rows, shared_vocabulary
from distill_core.models.tokenizers import check_compatibility, cross_tokenizer_facts

__all__ = ["CrossData", "CrossTargets", "CrossTeacher", "cross_kd_loss", "cross_kind",
           "ids_both_read", "load_cross", "one_tokenizer", "student_vocab",
           "teacher_text_size"]

FIELDS = ("student_pos", "student_end", "student_first", "teacher_pos", "teacher_end",
          "teacher_first", "one_to_one")


def cross_kind(config, teacher_tok, student_tok) -> str | None:
    """The cross-tokenizer loss a run uses: None when both share one vocabulary (refused if
    `cross_tokenizer` names a loss), else the setting, or for "auto" the one the tokenizers'
    facts pick (models.tokenizers.cross_tokenizer_facts). Settings that cannot work across
    tokenizers are refused here, before the data is packed."""
    if check_compatibility(teacher_tok, student_tok).ok:
        return one_tokenizer(config)
    kind = config.cross_tokenizer
    if kind == "auto":
        kind = cross_tokenizer_facts(teacher_tok, student_tok)["loss"]
    refused = [(config.teacher_cache, "teacher_cache: the cache keeps the teacher's top-k per "
                "teacher token, not the full distributions the groups need; turn it off"),
               (config.hidden_weight > 0, "hidden_weight: the two models' positions do not "
                "correspond; set it to 0"),
               (config.on_policy > 0, "on_policy: the teacher cannot read the student's own "
                "tokens; set it to 0"),
               (config.loss != "forward_kl", f"loss {config.loss}: across tokenizers the loss "
                "is cross_tokenizer's (uld or aligned); leave loss on forward_kl")]
    for bad, why in refused:
        if bad:
            raise InputError(f"the tokenizers differ (cross-tokenizer loss {kind}), which "
                             f"rules out {why}")
    return kind


def one_tokenizer(config) -> None:
    """For a teacher and student sharing one tokenizer: None, or InputError when the config
    names a cross-tokenizer loss outright."""
    if config.cross_tokenizer != "auto":
        raise InputError(f"cross_tokenizer {config.cross_tokenizer} is for a teacher and a "
                         "student whose tokenizers differ; these two share one: leave it on auto")


@dataclass
class CrossData:
    """The teacher's side of a cross-tokenizer run's blocks, and the groups per block."""

    kind: str  # "uld" | "aligned"
    student_tokenizer: object
    teacher: dict  # "train" / "val": (N, Tt) teacher ids, padded with its end-of-text
    lengths: dict  # "train" / "val": (N,) real teacher tokens per block
    groups: dict  # "train" / "val": per block, (G, 7) rows of FIELDS relative to the block
    shared: tuple[torch.Tensor, torch.Tensor]  # (student ids, teacher ids) spelled alike
    aligned_share: float  # characters in groups of one token on each side, training blocks

    def batch(self, part: str, idx: torch.Tensor, student_len: int, device) -> tuple:
        """(teacher ids (b, Tt), teacher labels (b, Tt-1), Groups) for blocks `idx` whose
        student logits have `student_len` positions (flat indices into b × positions)."""
        ids = self.teacher[part][idx]
        width = ids.shape[1] - 1
        labels = ids[:, 1:].masked_fill(
            torch.arange(width) >= (self.lengths[part][idx] - 1).unsqueeze(1), -100)
        rows = [self.groups[part][int(i)] for i in idx]
        offsets = [torch.tensor([b * student_len] * 2 + [0] + [b * width] * 2 + [0, 0])
                   for b in range(len(rows))]
        flat = torch.cat([r + o for r, o in zip(rows, offsets)]) if rows else \
            torch.zeros(0, 7, dtype=torch.long)
        groups = Groups.from_lists({f: flat[:, i].tolist() for i, f in enumerate(FIELDS)},
                                   device=device)
        return ids.to(device), labels.to(device), groups


def _block_groups(blocks, i: int, student_len: int, teacher_len: int) -> tuple:
    al = align_tokens(blocks.texts[i], blocks.teacher[i], blocks.teacher_ends[i],
                      blocks.student[i], blocks.student_ends[i])
    rows = group_rows([al], student_len=student_len, teacher_len=teacher_len)
    table = torch.tensor([rows[f] for f in FIELDS], dtype=torch.long).T.reshape(-1, 7)
    return table, al.aligned_chars, len(al.text)


def load_cross(config, corpus, teacher_tok, student_tok, kind: str,
               teacher_context: int | None) -> tuple[torch.Tensor, torch.Tensor, CrossData]:
    """(student train blocks, student val blocks, CrossData) from a corpus's splits."""
    from distill_core.data.two_tokenizations import pack_two

    packed = {part: pack_two(corpus[split], student_tok, teacher_tok, config.seq_len)
              for part, split in (("train", "train"), ("val", "validation"))}
    longest = max(len(ids) for p in packed.values() for ids in p.teacher)
    teacher_len = max(2, min(longest, teacher_context or longest))
    eos = teacher_tok.eos_token_id
    out = {"teacher": {}, "lengths": {}, "groups": {}}
    aligned = chars = 0
    for part, blocks in packed.items():
        cut = [ids[:teacher_len] for ids in blocks.teacher]
        out["teacher"][part] = torch.tensor([ids + [eos] * (teacher_len - len(ids))
                                             for ids in cut], dtype=torch.long)
        out["lengths"][part] = torch.tensor([len(ids) for ids in cut], dtype=torch.long)
        out["groups"][part] = []
        for i in range(len(blocks)):
            table, a, c = _block_groups(blocks, i, config.seq_len, teacher_len)
            out["groups"][part].append(table)
            aligned, chars = aligned + a * (part == "train"), chars + c * (part == "train")
    shared = tuple(torch.tensor(ids, dtype=torch.long)
                   for ids in shared_vocabulary(teacher_tok, student_tok))
    if kind == "aligned" and not len(shared[0]):
        raise InputError("cross_tokenizer aligned needs tokens both vocabularies spell alike; "
                         "these share none: use uld")
    student = {part: torch.tensor(p.student, dtype=torch.long) for part, p in packed.items()}
    data = CrossData(kind, student_tok, **out, shared=shared,
                     aligned_share=aligned / chars if chars else 0.0)
    return student["train"], student["val"], data


@dataclass
class CrossTargets:
    """What a cross-tokenizer teacher gives a micro-batch: its logits over its own tokens."""

    logits: torch.Tensor  # (b, Tt-1, Vt)
    labels: torch.Tensor  # (b, Tt-1) the teacher's next tokens, -100 past its text
    groups: Groups


def cross_kd_loss(student, targets: CrossTargets, labels: torch.Tensor, *, alpha, temperature,
                  cross: str, shared=None, vocab: int | None = None, **same_tokenizer):
    """The loop's loss for a cross-tokenizer pair: (total, {"kd", "ce"}) from the student's
    Head (or logits) and the teacher's CrossTargets; `cross` is uld or aligned (the loop's
    same-tokenizer `kind` and `beta` are ignored: cross_kind has refused any but the default)."""
    logits = head_logits(student) if isinstance(student, Head) else student
    if vocab:
        logits = logits[..., :vocab]  # the student tokenizer's real tokens
    return cross_tokenizer_kd_loss(logits, targets.logits, targets.groups,
                                   student_labels=labels, teacher_labels=targets.labels,
                                   alpha=alpha, temperature=temperature, kind=cross,
                                   shared=shared)


class CrossTeacher:
    """The live teacher of a cross-tokenizer run: reads its own tokens of the same text."""

    mode = "live"
    unfused = ("its tokenizer differs from the student's, and the cross-tokenizer loss takes "
               "both models' whole distributions at the aligned groups")

    def __init__(self, teacher, data: CrossData, autocast, teacher_vocab: int):
        self.teacher, self.data, self.autocast = teacher, data, autocast
        self.vocab, self.teacher_vocab = len(data.student_tokenizer), teacher_vocab  # real tokens
        self.loss = functools.partial(cross_kd_loss, cross=data.kind, shared=data.shared,
                                      vocab=self.vocab)

    def targets(self, idx: torch.Tensor, x: torch.Tensor) -> CrossTargets:
        ids, labels, groups = self.data.batch("train", idx, x.shape[1] - 1, x.device)
        with torch.inference_mode(), self.autocast():
            logits = models.next_token_logits(self.teacher, ids, self.teacher_vocab)
        return CrossTargets(logits.clone(), labels, groups)

    @torch.inference_mode()
    def compare(self, student, blocks: torch.Tensor, vocab: int | None = None) -> dict:
        """Both models' losses in nats per token of their own tokens, and the token counts
        and text bytes they cover (bits per byte mean the same on both sides); agreement and
        KL need one vocabulary: None."""
        from distill_core.training import evaluate

        out = evaluate.compare(student, None, blocks, vocab=self.vocab)
        n = len(blocks)
        ids, lengths = self.data.teacher["val"][:n], self.data.lengths["val"][:n]
        nats, tokens = _teacher_nats(self.teacher, ids, lengths, self.teacher_vocab)
        return {**out, "teacher_loss": nats / tokens, "teacher_ppl": math.exp(nats / tokens),
                "agreement": None, "kl": None}

    def report(self, batch_size: int) -> dict:
        return {"cross_tokenizer": self.data.kind,
                "aligned_share": round(self.data.aligned_share, 4)}


def _teacher_nats(teacher, ids: torch.Tensor, lengths: torch.Tensor, vocab, batch: int = 16):
    """(total nats, tokens) of the teacher's next-token loss over its blocks' real tokens."""
    mode, total, count = teacher.training, 0.0, 0
    teacher.eval()
    device = next(teacher.parameters()).device
    for i in range(0, len(ids), batch):
        x = ids[i:i + batch].to(device)
        logits = models.next_token_logits(teacher, x, vocab).float()
        keep = torch.arange(x.shape[1] - 1, device=device) < (lengths[i:i + batch] - 1).to(
            device).unsqueeze(1)
        labels = x[:, 1:].masked_fill(~keep, -100)
        total += F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="sum",
                                 ignore_index=-100).item()
        count += int(keep.sum())
    teacher.train(mode)
    return total, max(count, 1)


def teacher_text_size(data: CrossData, teacher_tok, n: int) -> dict:
    """evaluate.text_size of the teacher's first `n` validation blocks, real tokens only."""
    ids, lengths = data.teacher["val"][:n], data.lengths["val"][:n]
    texts = teacher_tok.batch_decode([row[1:int(k)] for row, k in zip(ids.tolist(), lengths)],
                                     skip_special_tokens=True)
    return {"bytes": sum(len(t.encode("utf-8")) for t in texts),
            "chars": sum(len(t) for t in texts), "tokens": int((lengths - 1).clamp_min(0).sum())}


def student_vocab(prepared, teacher, student) -> int | None:
    """The logits rows both models share when they pad them differently (one tokenizer), else
    None; a pair whose tokenizers differ is refused here unless the run is cross-tokenizer."""
    if prepared.cross is not None:
        return None
    verdict = models.require_compatible(
        prepared.tokenizer, prepared.student_tokenizer,
        teacher.get_output_embeddings().weight.shape[0],
        student.get_output_embeddings().weight.shape[0])
    return verdict.vocab_size if verdict.verdict == "padded_rows" else None


def ids_both_read(blocks: torch.Tensor, teacher, student) -> torch.Tensor:
    """Token blocks both models can read, for timing alone (a forward's time does not depend
    on which ids it reads): ids past the smaller vocabulary wrapped into it."""
    rows = min(m.get_output_embeddings().weight.shape[0] for m in (teacher, student))
    return blocks % rows
