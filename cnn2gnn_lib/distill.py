"""Response-based knowledge distillation: the loss that moves a teacher's answers into a student.

``../shared/METHOD.md``, section 4 (after Hinton et al. 2015)::

    L = (1 - alpha) * CE(z_s, y) + alpha * T^2 * KL( softmax(z_t / T) || softmax(z_s / T) )

with the KL summed over classes and averaged over the batch ("batchmean"). The ``T^2`` factor
keeps the gradient of the soft term on the same scale as the hard term when ``T`` changes, so
``alpha`` means the same thing at every temperature. ``alpha = 0`` is plain cross-entropy
training; ``alpha = 1`` learns from the teacher alone.

:func:`relation_loss` is relation-level distillation for a graph student: it passes on how the
teacher relates *samples* to each other, by charging every learned edge the teacher's
dissimilarity between the two images it joins.
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


def _unit_soft_targets(teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The teacher's soft answers scaled to unit length (rows), so dot products are cosines."""
    return F.normalize(soft_targets(teacher_logits.detach(), temperature), dim=1)


def teacher_similarity(teacher_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """``[B, B]`` cosine similarity of the teacher's soft answers: 1 for images the teacher sees
    the same way, near 0 for images it places in different classes."""
    probs = _unit_soft_targets(teacher_logits, temperature)
    return probs @ probs.T


def relation_loss(graph, teacher_logits: torch.Tensor, temperature: float = 4.0
                  ) -> torch.Tensor:
    """The teacher's mean dissimilarity along the student's learned edges (self-loops excluded):

        L_rel = sum_(i,j) a_ij (1 - sim_t(i, j)) / sum_(i,j) a_ij

    with ``sim_t`` from :func:`teacher_similarity`. It is 0 when every edge joins images the
    teacher answers identically. Gradients reach the graph's weights (and through the
    differentiable head, the embedding it is learned on); the teacher is detached.
    ``graph`` is a :class:`cnn2gnn_lib.graph.Graph` over the batch's ``B`` images.
    """
    if teacher_logits.dim() != 2 or teacher_logits.shape[0] != graph.num_nodes:
        raise ValueError(f"teacher_logits must be [{graph.num_nodes}, K] for a graph of "
                         f"{graph.num_nodes} nodes, got {tuple(teacher_logits.shape)}")
    edges = graph.without_self_loops()
    if edges.num_edges == 0:
        raise ValueError("the graph has no edges besides self-loops")
    probs = _unit_soft_targets(teacher_logits, temperature)
    similarity = (probs[edges.src] * probs[edges.dst]).sum(1)
    return (edges.weight * (1 - similarity)).sum() / edges.weight.sum().clamp_min(1e-12)
