"""Distillation losses: small documented functions, combined as weighted terms.

Chapter 6 of the book ("Distillation") derives them. Response-based distillation (Hinton et
al. 2015)::

    L = (1 - alpha) * CE(z_s, y) + alpha * T^2 * KL( softmax(z_t / T) || softmax(z_s / T) )

with the KL summed over classes and averaged over the batch ("batchmean"). The ``T^2`` factor
keeps the gradient of the soft term on the same scale as the hard term when ``T`` changes, so
``alpha`` means the same thing at every temperature. ``alpha = 0`` is plain cross-entropy
training; ``alpha = 1`` learns from the teacher alone.

:func:`relation_loss` is relation-level distillation for a graph student: it passes on how the
teacher relates *samples* to each other, by charging every learned edge the teacher's
dissimilarity between the two images it joins.

A student's loss is a list of :class:`LossTerm` (name, weight, function of a
:class:`StudentBatch`) summed outside the training loop, the way torchdistill composes losses:
:func:`distillation_terms` writes the loss above as ``(1 - alpha) CE + alpha T^2 KL`` plus an
optional relation term, and :func:`total_loss` adds them up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
    soft = soft_kl(student_logits, teacher_logits, temperature)
    return (1 - alpha) * hard + alpha * temperature ** 2 * soft


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
            ) -> torch.Tensor:
    """``KL(softmax(z_t / T) || softmax(z_s / T))`` summed over classes, averaged over the
    batch; the teacher is detached."""
    teacher_log_probs = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    student_log_probs = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean",
                    log_target=True)


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


# --------------------------------------------------------------------------------------------
# Weighted terms


@dataclass
class StudentBatch:
    """What a loss term may read of one training batch."""

    logits: torch.Tensor
    targets: torch.Tensor
    teacher_logits: torch.Tensor | None = None
    graph: object | None = None  # the batch graph (a cnn2gnn_lib.graph.Graph), when asked for


@dataclass(frozen=True)
class LossTerm:
    """``weight * fn(batch)``: one term of a student's loss. ``needs_teacher`` and
    ``needs_graph`` tell the training loop what the batch must carry."""

    name: str
    weight: float
    fn: Callable[[StudentBatch], torch.Tensor]
    needs_teacher: bool = False
    needs_graph: bool = False


def cross_entropy_term(weight: float = 1.0) -> LossTerm:
    """The hard-label term ``CE(z_s, y)``."""
    return LossTerm("ce", weight, lambda b: F.cross_entropy(b.logits, b.targets))


def soft_term(weight: float, temperature: float) -> LossTerm:
    """The response term ``KL(teacher || student)`` at temperature ``T`` (its weight carries
    the ``T^2`` factor, see :func:`distillation_terms`)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return LossTerm("kd", weight, lambda b: soft_kl(b.logits, b.teacher_logits, temperature),
                    needs_teacher=True)


def relation_term(weight: float, temperature: float) -> LossTerm:
    """The relation term :func:`relation_loss` on the batch's learned graph."""
    return LossTerm("relation", weight,
                    lambda b: relation_loss(b.graph, b.teacher_logits, temperature),
                    needs_teacher=True, needs_graph=True)


def distillation_terms(alpha: float = 0.0, temperature: float = 4.0,
                       relation_weight: float = 0.0) -> list[LossTerm]:
    """The terms of :func:`kd_loss` (plus relation distillation):
    ``(1 - alpha) CE + alpha T^2 KL + relation_weight L_rel``; terms of weight 0 are left out,
    so ``alpha = 0`` is plain cross-entropy. Summed by :func:`total_loss` they give exactly
    the numbers of :func:`kd_loss`."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if relation_weight < 0:
        raise ValueError(f"relation_weight must be >= 0, got {relation_weight}")
    terms = [cross_entropy_term(1 - alpha)] if alpha < 1 else []
    if alpha > 0:
        terms.append(soft_term(alpha * temperature ** 2, temperature))
    if relation_weight > 0:
        terms.append(relation_term(relation_weight, temperature))
    return terms


def total_loss(terms: list[LossTerm], batch: StudentBatch) -> torch.Tensor:
    """``sum_k weight_k * fn_k(batch)``, in the order of ``terms``."""
    if not terms:
        raise ValueError("a loss needs at least one term")
    total = None
    for term in terms:
        value = term.fn(batch)
        value = value if term.weight == 1 else term.weight * value
        total = value if total is None else total + value
    return total
