"""The maths of knowledge distillation, torch only: softening by temperature, the divergences
and `kd_loss` (losses), the explorer's readouts at one position (explore), and the toy
one-distribution KL fits of the KL-direction page (toy_kl).

May import: `errors` and torch. Nothing else in the package: every other layer builds on this.
"""
