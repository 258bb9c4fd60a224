"""The maths of knowledge distillation, torch only: softening by temperature, the divergences
and `kd_loss` (losses, the public face: its arguments checked once in checks; the divergences
and kl_between in divergences; top-k teacher targets in topk; one chunked path in chunked, with
forward_kl's closed-form gradient and terms' autograd sums), per-token disagreement along a text
(disagreement), the explorer's readouts at one position (explore), and the toy
one-distribution KL fits of the KL-direction page (toy_kl).

May import: `errors` and torch. Nothing else in the package: every other layer builds on this.
"""
