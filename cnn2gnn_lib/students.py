"""Students: the two-layer GNN of CNN2GNN and the MLP with the same widths.

This module owns the student models and how messages travel along a graph
(``../shared/METHOD.md``, sections 3 and 5)::

    H1 = ReLU(A_hat X W1 + b1)   (dropout)
    Z  = A_hat H1 W2 + b2        (logits)

The nodes are the images of a batch (flattened, standardised pixels, see
:func:`cnn2gnn_lib.data.flat_features`). ``A_hat`` is built for every batch by
:mod:`cnn2gnn_lib.graph`: learned by the differentiable head (``graph="learned"``) from the
student's own first-layer embedding ``X W1`` (or from a separate projection), or a fixed kNN graph
on the raw pixels (``graph="knn"``), the baseline that learns nothing.

Message passing has two interchangeable backends (``backend=``): plain PyTorch (``index_add``,
CPU and CUDA, any torch >= 2.2) and DGL (``dgl.graph`` with edge weights through
``GraphConv(norm='none')``). ``"auto"`` takes DGL when it imports and the data is on the CPU (the
PyPI DGL has no CUDA), else PyTorch. Both compute the same numbers from the same parameters.

Inference (section 5): *batch mode* is ``student(x)``, a test batch builds its own graph, so a
prediction depends on the other images of its batch. *Anchor mode*
(:meth:`GNNStudent.build_anchor_bank`, :meth:`GNNStudent.predict_anchor`) connects every image
only to its ``s`` nearest images in a fixed bank of training images, so a prediction depends on
that image alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from . import graph as graphs
from .dgl_bridge import resolve_backend  # noqa: F401  (re-exported: students.resolve_backend)
from .graph import Graph

GraphKind = Literal["learned", "knn"]
GraphSpace = Literal["shared", "projection"]


# --------------------------------------------------------------------------------------------
# Message passing


def weighted_sum(graph: Graph, values: torch.Tensor, num_targets: int | None = None
                 ) -> torch.Tensor:
    """``out[dst] += weight * values[src]`` over all edges, as one sparse matrix product.

    ``values`` has one row per source node; ``out`` has ``num_targets`` rows (default: the
    graph's nodes). A sparse COO product is 10-100x faster on the CPU than the equivalent
    ``index_add`` and passes gradients to both the weights and ``values``.
    """
    rows = graph.num_nodes if num_targets is None else num_targets
    matrix = torch.sparse_coo_tensor(torch.stack([graph.dst, graph.src]), graph.weight,
                                     (rows, values.shape[0]), check_invariants=False)
    return torch.sparse.mm(matrix, values)


def propagate_torch(graph: Graph, features: torch.Tensor) -> torch.Tensor:
    """``A @ features`` in plain PyTorch: every edge carries ``weight * features[src]`` to
    ``dst`` (written as a sparse-dense matrix product)."""
    return weighted_sum(graph, features)


_dgl_conv: nn.Module | None = None


def propagate_dgl(graph: Graph, features: torch.Tensor) -> torch.Tensor:
    """``A @ features`` with DGL: ``GraphConv(norm='none')`` fed the normalised edge weights.

    The convolution has no weight or bias of its own (the student holds them), so it is the pure
    weighted sum over in-edges; gradients reach both ``features`` and the edge weights.
    """
    global _dgl_conv
    from .dgl_bridge import import_dgl

    dgl = import_dgl()
    if _dgl_conv is None:
        _dgl_conv = dgl.nn.GraphConv(1, 1, norm="none", weight=False, bias=False,
                                     allow_zero_in_degree=True)
    g = dgl.graph((graph.src, graph.dst), num_nodes=graph.num_nodes)
    return _dgl_conv(g, features, edge_weight=graph.weight)


def propagate(graph: Graph, features: torch.Tensor, backend: str = "torch") -> torch.Tensor:
    """``A @ features`` on the chosen backend (``"torch"`` or ``"dgl"``)."""
    if features.dim() != 2 or features.shape[0] != graph.num_nodes:
        raise ValueError(f"features must be [{graph.num_nodes}, D] for a graph of "
                         f"{graph.num_nodes} nodes, got {tuple(features.shape)}")
    if backend == "dgl":
        return propagate_dgl(graph, features)
    return propagate_torch(graph, features)


# --------------------------------------------------------------------------------------------
# Models


def _check_input(x: torch.Tensor, in_features: int) -> None:
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ValueError(f"expected flat images [B, {in_features}], got {tuple(x.shape)}; "
                         "use data.flat_features or images.flatten(1)")


class MLPStudent(nn.Module):
    """``Z = W2 ReLU(W1 x + b1) + b2``: the GNN student without a graph (same widths)."""

    def __init__(self, in_features: int, hidden: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.in_features = in_features
        self.lin1 = nn.Linear(in_features, hidden)
        self.lin2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_features)
        return self.lin2(self.dropout(F.relu(self.lin1(x))))


@dataclass
class AnchorBank:
    """What anchor-mode inference needs of the bank of training images, computed once."""

    graph_embeddings: torch.Tensor   # where distances are measured, [m, p]
    layer1_messages: torch.Tensor    # X_bank W1, [m, hidden]
    layer2_messages: torch.Tensor    # H1_bank W2, [m, classes]
    size: int


class GNNStudent(nn.Module):
    """The two-layer GNN student whose nodes are the images of a batch.

    Parameters
    ----------
    in_features, hidden, num_classes: widths (the MLP baseline uses the same ones).
    s: neighbours per node (the head's sparsity; ``k`` of the kNN baseline).
    graph: ``"learned"`` (differentiable head) or ``"knn"`` (fixed kNN on raw inputs).
    graph_space: ``"shared"`` learns the graph on ``X W1`` (graph and first layer share
        parameters, as in the paper) or ``"projection"`` on a separate ``X P``.
    projection_dim: width of the separate projection.
    self_loop_weight: weight of the self-loop added before normalisation.
    backend: ``"auto"``, ``"torch"`` or ``"dgl"`` for message passing (and kNN).
    """

    def __init__(self, in_features: int, hidden: int, num_classes: int, s: int = 10,
                 graph: GraphKind = "learned", graph_space: GraphSpace = "shared",
                 projection_dim: int = 128, dropout: float = 0.5,
                 self_loop_weight: float = 1.0, backend: str = "auto"):
        super().__init__()
        if graph not in ("learned", "knn"):
            raise ValueError(f"graph must be 'learned' or 'knn', got {graph!r}")
        if graph_space not in ("shared", "projection"):
            raise ValueError(f"graph_space must be 'shared' or 'projection', got {graph_space!r}")
        if s < 1:
            raise ValueError(f"s must be >= 1, got {s}")
        if backend not in ("auto", "torch", "dgl"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'dgl', got {backend!r}")
        self.in_features, self.s, self.graph_kind = in_features, s, graph
        self.graph_space, self.self_loop_weight, self.backend = graph_space, self_loop_weight, backend
        self.lin1 = nn.Linear(in_features, hidden)
        self.lin2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.projection = (nn.Linear(in_features, projection_dim, bias=False)
                           if graph == "learned" and graph_space == "projection" else None)

    # -- graphs ---------------------------------------------------------------------------

    def graph_embeddings(self, x: torch.Tensor, first_layer: torch.Tensor | None = None
                         ) -> torch.Tensor:
        """The space in which neighbours are found: raw ``x`` (kNN), ``X W1`` or ``X P``."""
        if self.graph_kind == "knn":
            return x
        if self.projection is not None:
            return self.projection(x)
        return first_layer if first_layer is not None else F.linear(x, self.lin1.weight)

    def build_graph(self, x: torch.Tensor, first_layer: torch.Tensor | None = None) -> Graph:
        """The normalised graph ``A_hat`` of a batch ``x`` (learned: differentiable)."""
        if x.shape[0] <= self.s + 1:
            raise ValueError(f"a batch of {x.shape[0]} images cannot give each image s={self.s} "
                             f"neighbours; use batches of at least {self.s + 2} images")
        if self.graph_kind == "knn":
            return graphs.fixed_knn_graph(x, self.s, self.self_loop_weight, self._backend(x))
        return graphs.learn_graph(self.graph_embeddings(x, first_layer), self.s,
                                  self.self_loop_weight)

    def _backend(self, x: torch.Tensor) -> str:
        return resolve_backend(self.backend, x.device)

    # -- batch mode -----------------------------------------------------------------------

    def forward(self, x: torch.Tensor, graph: Graph | None = None,
                return_graph: bool = False):
        """Logits of a batch in batch mode (the batch's own graph unless ``graph`` is given)."""
        _check_input(x, self.in_features)
        backend = self._backend(x)
        first = F.linear(x, self.lin1.weight)
        if graph is None:
            graph = self.build_graph(x, first)
        hidden = F.relu(propagate(graph, first, backend) + self.lin1.bias)
        hidden = self.dropout(hidden)
        logits = propagate(graph, F.linear(hidden, self.lin2.weight), backend) + self.lin2.bias
        return (logits, graph) if return_graph else logits

    # -- anchor mode ----------------------------------------------------------------------

    def _anchor_graph(self, queries: torch.Tensor, bank: torch.Tensor | None, chunk_size: int
                      ) -> Graph:
        return graphs.chunked_adaptive_graph(queries, self.s, candidates=bank,
                                             chunk_size=chunk_size,
                                             uniform=self.graph_kind == "knn")

    def _anchor_mix(self, own: torch.Tensor, graph: Graph, bank_values: torch.Tensor
                    ) -> torch.Tensor:
        # A node keeps half of its own message and takes half from its s anchors: the weights a
        # batch-mode row of A_hat has when every weighted degree is 2 (its average value).
        return 0.5 * own + 0.5 * weighted_sum(graph, bank_values, own.shape[0])

    @torch.no_grad()
    def build_anchor_bank(self, bank_x: torch.Tensor, chunk_size: int = 1024) -> AnchorBank:
        """Precompute the bank's embeddings for anchor mode (eval mode, no gradients).

        Bank images connect to their ``s`` nearest *other* bank images by the same rule, which
        gives their hidden states; test images later connect to bank images only.
        """
        _check_input(bank_x, self.in_features)
        if bank_x.shape[0] <= self.s + 1:
            raise ValueError(f"an anchor bank needs more than s+1={self.s + 1} images, got "
                             f"{bank_x.shape[0]}")
        was_training = self.training
        self.eval()
        first = F.linear(bank_x, self.lin1.weight)
        embeddings = self.graph_embeddings(bank_x, first)
        inner = self._anchor_graph(embeddings, None, chunk_size)
        hidden = F.relu(self._anchor_mix(first, inner, first) + self.lin1.bias)
        if embeddings is first:  # shared space: keep two tensors so neither aliases the other
            embeddings = first.clone()
        bank = AnchorBank(embeddings, first, F.linear(hidden, self.lin2.weight),
                          bank_x.shape[0])
        self.train(was_training)
        return bank

    @torch.no_grad()
    def predict_anchor(self, x: torch.Tensor, bank: AnchorBank, chunk_size: int = 1024
                       ) -> torch.Tensor:
        """Logits in anchor mode: each image sees only itself and its ``s`` nearest bank images,
        so its prediction does not depend on which other images are predicted with it."""
        _check_input(x, self.in_features)
        was_training = self.training
        self.eval()
        first = F.linear(x, self.lin1.weight)
        graph = self._anchor_graph(self.graph_embeddings(x, first), bank.graph_embeddings,
                                   chunk_size)
        hidden = F.relu(self._anchor_mix(first, graph, bank.layer1_messages) + self.lin1.bias)
        second = F.linear(hidden, self.lin2.weight)
        logits = self._anchor_mix(second, graph, bank.layer2_messages) + self.lin2.bias
        self.train(was_training)
        return logits


def build_student(kind: str, in_features: int, hidden: int, num_classes: int, **options
                  ) -> nn.Module:
    """``kind``: ``"mlp"``, ``"gnn-learned"`` or ``"gnn-knn"``; options go to the model."""
    if kind == "mlp":
        allowed = {"dropout"}
        return MLPStudent(in_features, hidden, num_classes,
                          **{k: v for k, v in options.items() if k in allowed})
    if kind in ("gnn-learned", "gnn-knn"):
        return GNNStudent(in_features, hidden, num_classes, graph=kind[4:], **options)
    raise ValueError(f"unknown student {kind!r}; known: mlp, gnn-learned, gnn-knn")


# --------------------------------------------------------------------------------------------
# Prediction in batch mode (training lives in cnn2gnn_lib.training)


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


def min_batch(student: nn.Module) -> int:
    """The smallest batch a student can take (a GNN needs ``s + 2`` nodes)."""
    return student.s + 2 if isinstance(student, GNNStudent) else 1


@torch.no_grad()
def predict_batches(student: nn.Module, features: torch.Tensor, batch_size: int = 256
                    ) -> torch.Tensor:
    """Logits in batch mode: consecutive batches of ``features`` in the given order."""
    student.eval()
    return torch.cat([student(features[part])
                      for part in batch_slices(len(features), batch_size, min_batch(student))])


@torch.no_grad()
def batch_graph_homophily(student: GNNStudent, features: torch.Tensor, labels: torch.Tensor,
                          batch_size: int = 256) -> float:
    """Edge homophily of the student's batch-mode graphs, pooled over consecutive batches."""
    same, total = 0.0, 0.0
    student.eval()
    for part in batch_slices(len(features), batch_size, student.s + 2):
        graph = student.build_graph(features[part]).without_self_loops()
        batch_labels = labels[part].to(graph.src.device)
        agree = (batch_labels[graph.src] == batch_labels[graph.dst]).float()
        same += float((agree * graph.weight).sum())
        total += float(graph.weight.sum())
    return same / total
