"""The maths of knowledge distillation, torch only: softening by temperature, the divergences
and `kd_loss` (losses, the public face: its arguments checked once in checks; the divergences
and kl_between in divergences; top-k teacher targets in topk; one chunked path in chunked, with
forward_kl's closed-form gradient and terms' autograd sums; the same loss fused with the
output projection in fused: hidden states in, each chunk's logits made and dropped, the loss
the training loop takes), per-token disagreement along a text
(disagreement), the explorer's readouts at one position (explore), the toy
one-distribution KL fits of the KL-direction page (toy_kl), and the losses between models
whose tokenizers differ, over groups of positions where both cut the text alike
(cross_tokenizer), and the distance between student and teacher hidden states, normalised
MSE or cosine, with the student:teacher layer pairs text (hidden).

May import: `errors` and torch. Nothing else in the package: every other layer builds on this.
"""
