"""Response-based knowledge distillation: the loss that moves a teacher's answers into a student.

``../shared/METHOD.md``, section 4 (after Hinton et al. 2015)::

    L = (1 - alpha) * CE(z_s, y) + alpha * T^2 * KL( softmax(z_t / T) || softmax(z_s / T) )

with the KL summed over classes and averaged over the batch ("batchmean"). The ``T^2`` factor
keeps the gradient of the soft term on the same scale as the hard term when ``T`` changes, so
``alpha`` means the same thing at every temperature. ``alpha = 0`` is plain cross-entropy
training; ``alpha = 1`` learns from the teacher alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``softmax(logits / T)``: the teacher's answer with its small probabilities made visible."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return F.softmax(logits / temperature, dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
            temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """The distillation loss of a batch (a scalar tensor).

    ``student_logits`` and ``teacher_logits`` are ``[B, K]``; ``targets`` are class indices
    ``[B]``. The teacher side is detached: no gradient ever reaches the teacher.
    """
    if student_logits.dim() != 2:
        raise ValueError(f"student_logits must be [B, K], got {tuple(student_logits.shape)}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits {tuple(teacher_logits.shape)} and student_logits "
                         f"{tuple(student_logits.shape)} must have the same shape")
    if targets.shape != student_logits.shape[:1]:
        raise ValueError(f"targets must be [B]={student_logits.shape[0]} class indices, got "
                         f"{tuple(targets.shape)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    hard = F.cross_entropy(student_logits, targets) if alpha < 1 else student_logits.new_zeros(())
    if alpha == 0:
        return hard
    teacher_log_probs = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    soft = F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean",
                    log_target=True)
    return (1 - alpha) * hard + alpha * temperature ** 2 * soft
