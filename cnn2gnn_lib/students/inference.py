"""Batch-mode prediction over a whole split, and the homophily of the graphs it builds.

In batch mode a student predicts consecutive batches of the given order; a GNN's batches build
their own graphs, so the order and the batch size are part of what a batch-mode accuracy means
(chapter 5 of the book, "The GNN student", sorts a test set by class to show it). Anchor mode
lives on the GNN itself (:meth:`cnn2gnn_lib.students.GNNStudent.predict_anchor`).
"""
from __future__ import annotations

import torch

from .models import Student, evaluating


def batch_slices(n: int, batch_size: int, minimum: int = 1) -> list[slice]:
    """Consecutive batches over ``n`` items; a last batch smaller than ``minimum`` is merged
    into the one before it (a graph batch needs more than ``s + 1`` nodes)."""
    if batch_size < minimum:
        raise ValueError(f"batch_size={batch_size} is smaller than the {minimum} nodes a batch "
                         "needs")
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < minimum:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, starts[1:] + [n])]


@torch.no_grad()
def predict_batches(student: Student, features: torch.Tensor, batch_size: int = 256
                    ) -> torch.Tensor:
    """Logits in batch mode: consecutive batches of ``features`` in the given order."""
    student.eval()
    return torch.cat([student(features[part])
                      for part in batch_slices(len(features), batch_size, student.min_batch)])


@torch.no_grad()
def batch_graph_homophily(student: Student, features: torch.Tensor, labels: torch.Tensor,
                          batch_size: int = 256) -> float:
    """Edge homophily of the student's batch-mode graphs (the graph of its last layer that
    passes messages), pooled over consecutive batches."""
    return pooled_homophily(student, features, labels,
                            batch_slices(len(features), batch_size, student.min_batch))


@torch.no_grad()
def pooled_homophily(student: Student, features: torch.Tensor, labels: torch.Tensor,
                     batches) -> float:
    """Edge homophily of the graphs the student builds on each of ``batches`` (slices or index
    tensors into ``features``): the weighted share of edges, self-loops left out, that join two
    images of the same class, pooled over the batches."""
    if student.head is None:
        raise ValueError(f"{type(student).__name__} builds no graph")
    same, total = 0.0, 0.0
    with evaluating(student):
        for part in batches:
            _, graph = student(features[part], return_graph=True)
            graph = graph.without_self_loops()
            batch_labels = labels[part].to(graph.src.device)
            agree = (batch_labels[graph.src] == batch_labels[graph.dst]).float()
            same += float((agree * graph.weight).sum())
            total += float(graph.weight.sum())
    return same / total if total > 0 else float("nan")
