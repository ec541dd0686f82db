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
GraphSpace = Literal["shared", "projection", "hidden"]


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

    graph_embeddings: torch.Tensor   # where layer-1 distances are measured, [m, p]
    layer1_messages: torch.Tensor    # X_bank W1, [m, hidden]
    layer2_messages: torch.Tensor    # H1_bank W2, [m, classes]
    size: int
    hidden_embeddings: torch.Tensor | None = None  # H1_bank, where a hidden-space graph looks
    labels: torch.Tensor | None = None  # label distributions of the bank images, [m, classes]


GRAPH_LAYERS = ("both", "first", "second")
GRAPH_SPACES = ("shared", "projection", "hidden")


class GNNStudent(nn.Module):
    """The two-layer GNN student whose nodes are the images of a batch.

    Parameters
    ----------
    in_features, hidden, num_classes: widths (the MLP baseline uses the same ones).
    s: neighbours per node (the head's sparsity; ``k`` of the kNN baseline).
    graph: ``"learned"`` (differentiable head) or ``"knn"`` (fixed kNN on raw inputs).
    graph_space: where the learned graph looks for neighbours: ``"shared"`` on ``X W1`` (graph
        and first layer share parameters, as in the paper), ``"projection"`` on a separate
        ``X P``, or ``"hidden"``: the second layer's graph is learned on the hidden states
        ``H1`` (the first layer, if it has a graph, keeps the shared space).
    graph_layers: which layers pass messages: ``"both"`` (the paper), ``"first"`` or
        ``"second"``; a layer without a graph is a plain linear layer.
    self_weight: how much a node keeps of itself. ``None`` (the paper): GCN normalisation
        ``D^-1/2 (A + I) D^-1/2`` with ``self_loop_weight`` on the self-loop. A number
        ``lam`` in [0, 1]: ``lam * own + (1 - lam) * mean of neighbours`` (row-normalised
        graph, no self-loop). ``"learned"``: the same with ``lam`` a trained parameter.
    projection_dim: width of the separate projection.
    backend: ``"auto"``, ``"torch"`` or ``"dgl"`` for message passing (and kNN).
    """

    def __init__(self, in_features: int, hidden: int, num_classes: int, s: int = 10,
                 graph: GraphKind = "learned", graph_space: GraphSpace = "shared",
                 projection_dim: int = 128, dropout: float = 0.5,
                 self_loop_weight: float = 1.0, backend: str = "auto",
                 graph_layers: str = "both", self_weight: float | str | None = None):
        super().__init__()
        if graph not in ("learned", "knn"):
            raise ValueError(f"graph must be 'learned' or 'knn', got {graph!r}")
        if graph_space not in GRAPH_SPACES:
            raise ValueError(f"graph_space must be one of {GRAPH_SPACES}, got {graph_space!r}")
        if graph_layers not in GRAPH_LAYERS:
            raise ValueError(f"graph_layers must be one of {GRAPH_LAYERS}, got {graph_layers!r}")
        if graph_space == "hidden" and (graph != "learned" or graph_layers == "first"):
            raise ValueError("graph_space='hidden' learns the second layer's graph on the hidden "
                             "states: it needs graph='learned' and a graph in the second layer")
        if not (self_weight is None or self_weight == "learned"
                or (isinstance(self_weight, (int, float)) and 0 <= self_weight <= 1)):
            raise ValueError(f"self_weight must be None, 'learned' or a number in [0, 1], got "
                             f"{self_weight!r}")
        if s < 1:
            raise ValueError(f"s must be >= 1, got {s}")
        if backend not in ("auto", "torch", "dgl"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'dgl', got {backend!r}")
        self.in_features, self.s, self.graph_kind = in_features, s, graph
        self.graph_space, self.self_loop_weight, self.backend = graph_space, self_loop_weight, backend
        self.graph_layers, self.self_weight = graph_layers, self_weight
        self.lin1 = nn.Linear(in_features, hidden)
        self.lin2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.projection = (nn.Linear(in_features, projection_dim, bias=False)
                           if graph == "learned" and graph_space == "projection" else None)
        # sigmoid(0) = 0.5: a learned self weight starts where anchor mode's fixed mix sits
        self.self_logit = nn.Parameter(torch.zeros(())) if self_weight == "learned" else None

    @property
    def first_has_graph(self) -> bool:
        return self.graph_layers in ("both", "first")

    @property
    def second_has_graph(self) -> bool:
        return self.graph_layers in ("both", "second")

    def self_share(self) -> torch.Tensor | float | None:
        """``lam``, the share of its own message a node keeps (``None``: GCN normalisation)."""
        if self.self_logit is not None:
            return torch.sigmoid(self.self_logit)
        return None if self.self_weight is None else float(self.self_weight)

    # -- graphs ---------------------------------------------------------------------------

    def graph_embeddings(self, x: torch.Tensor, first_layer: torch.Tensor | None = None
                         ) -> torch.Tensor:
        """Where the first graph finds neighbours: raw ``x`` (kNN), ``X W1`` or ``X P``."""
        if self.graph_kind == "knn":
            return x
        if self.projection is not None:
            return self.projection(x)
        return first_layer if first_layer is not None else F.linear(x, self.lin1.weight)

    def _normalization(self) -> str:
        return "sym" if self.self_weight is None else "row"

    def _check_batch(self, n: int) -> None:
        if n <= self.s + 1:
            raise ValueError(f"a batch of {n} images cannot give each image s={self.s} "
                             f"neighbours; use batches of at least {self.s + 2} images")

    def build_graph(self, x: torch.Tensor, first_layer: torch.Tensor | None = None) -> Graph:
        """The normalised graph of a batch ``x`` in the first graph space (learned:
        differentiable). With ``graph_space="hidden"`` the second layer's graph is built in
        :meth:`forward`; ``forward(x, return_graph=True)`` returns the graph actually used."""
        self._check_batch(x.shape[0])
        if self.graph_kind == "knn":
            return graphs.fixed_knn_graph(x, self.s, self.self_loop_weight, self._backend(x),
                                          self._normalization())
        return graphs.learn_graph(self.graph_embeddings(x, first_layer), self.s,
                                  self.self_loop_weight, self._normalization())

    def _hidden_graph(self, hidden: torch.Tensor) -> Graph:
        self._check_batch(hidden.shape[0])
        return graphs.learn_graph(hidden, self.s, self.self_loop_weight, self._normalization())

    def _backend(self, x: torch.Tensor) -> str:
        return resolve_backend(self.backend, x.device)

    def _mix(self, graph: Graph, values: torch.Tensor, backend: str) -> torch.Tensor:
        share = self.self_share()
        if share is None:
            return propagate(graph, values, backend)
        return share * values + (1 - share) * propagate(graph, values, backend)

    # -- batch mode -----------------------------------------------------------------------

    def forward(self, x: torch.Tensor, graph: Graph | None = None,
                return_graph: bool = False):
        """Logits of a batch in batch mode (the batch's own graphs unless ``graph`` is given).

        ``return_graph=True`` also returns the graph of the last layer that passes messages.
        """
        _check_input(x, self.in_features)
        backend = self._backend(x)
        raw_first = F.linear(x, self.lin1.weight)
        first_graph = second_graph = None
        first = raw_first
        if self.first_has_graph:
            first_graph = graph if graph is not None else self.build_graph(x, raw_first)
            first = self._mix(first_graph, raw_first, backend)
        hidden_states = F.relu(first + self.lin1.bias)
        second = F.linear(self.dropout(hidden_states), self.lin2.weight)
        if self.second_has_graph:
            if self.graph_space == "hidden":
                given = graph is not None and not self.first_has_graph
                second_graph = graph if given else self._hidden_graph(hidden_states)
            elif first_graph is not None:
                second_graph = first_graph
            else:
                second_graph = graph if graph is not None else self.build_graph(x, raw_first)
            second = self._mix(second_graph, second, backend)
        logits = second + self.lin2.bias
        if return_graph:
            return logits, second_graph if second_graph is not None else first_graph
        return logits

    # -- anchor mode ----------------------------------------------------------------------

    def _anchor_graph(self, queries: torch.Tensor, bank: torch.Tensor | None, chunk_size: int
                      ) -> Graph:
        return graphs.chunked_adaptive_graph(queries, self.s, candidates=bank,
                                             chunk_size=chunk_size,
                                             uniform=self.graph_kind == "knn")

    def _anchor_mix(self, own: torch.Tensor, graph: Graph, bank_values: torch.Tensor
                    ) -> torch.Tensor:
        # With GCN normalisation a node keeps half of its own message and takes half from its s
        # anchors: the weights a batch-mode row of A_hat has when every weighted degree is 2 (its
        # average value). With a self weight lam the batch-mode rule carries over exactly.
        share = self.self_share()
        share = 0.5 if share is None else share
        return share * own + (1 - share) * weighted_sum(graph, bank_values, own.shape[0])

    @torch.no_grad()
    def build_anchor_bank(self, bank_x: torch.Tensor, chunk_size: int = 1024,
                          labels: torch.Tensor | None = None) -> AnchorBank:
        """Precompute the bank's embeddings for anchor mode (eval mode, no gradients).

        Bank images connect to their ``s`` nearest *other* bank images by the same rule, which
        gives their hidden states; test images later connect to bank images only. ``labels``
        (class indices ``[m]`` or distributions ``[m, classes]``, e.g. the teacher's soft
        labels) let :meth:`predict_anchor` mix the neighbours' labels into a prediction.
        """
        _check_input(bank_x, self.in_features)
        if bank_x.shape[0] <= self.s + 1:
            raise ValueError(f"an anchor bank needs more than s+1={self.s + 1} images, got "
                             f"{bank_x.shape[0]}")
        num_classes = self.lin2.out_features
        if labels is not None:
            if labels.dim() == 1:
                if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
                    raise ValueError(f"bank labels must lie in [0, {num_classes})")
                labels = F.one_hot(labels.long(), num_classes).float()
            if labels.shape != (bank_x.shape[0], num_classes):
                raise ValueError(f"bank labels must be [{bank_x.shape[0]}] class indices or "
                                 f"[{bank_x.shape[0]}, {num_classes}] distributions, got "
                                 f"{tuple(labels.shape)}")
        was_training = self.training
        self.eval()
        first = F.linear(bank_x, self.lin1.weight)
        embeddings = self.graph_embeddings(bank_x, first)
        mixed = first
        if self.first_has_graph:
            inner = self._anchor_graph(embeddings, None, chunk_size)
            mixed = self._anchor_mix(first, inner, first)
        hidden = F.relu(mixed + self.lin1.bias)
        if embeddings is first:  # shared space: keep two tensors so neither aliases the other
            embeddings = first.clone()
        bank = AnchorBank(embeddings, first, F.linear(hidden, self.lin2.weight),
                          bank_x.shape[0], hidden if self.graph_space == "hidden" else None,
                          None if labels is None else labels.float())
        self.train(was_training)
        return bank

    @torch.no_grad()
    def predict_anchor(self, x: torch.Tensor, bank: AnchorBank, chunk_size: int = 1024,
                       label_weight: float = 0.0) -> torch.Tensor:
        """Logits in anchor mode: each image sees only itself and its ``s`` nearest bank images,
        so its prediction does not depend on which other images are predicted with it.

        ``label_weight`` ``beta`` > 0 (a bank built with ``labels``) returns the log of
        ``(1 - beta) softmax(logits) + beta * sum_j a_ij y_j``: the neighbours' known labels,
        weighted by the graph, vote alongside the network (label propagation over one hop).
        """
        _check_input(x, self.in_features)
        if not 0 <= label_weight <= 1:
            raise ValueError(f"label_weight must be in [0, 1], got {label_weight}")
        if label_weight > 0 and bank.labels is None:
            raise ValueError("label_weight > 0 needs a bank built with labels "
                             "(build_anchor_bank(..., labels=...))")
        was_training = self.training
        self.eval()
        first = F.linear(x, self.lin1.weight)
        graph = None
        if self.first_has_graph or self.graph_space != "hidden":
            graph = self._anchor_graph(self.graph_embeddings(x, first), bank.graph_embeddings,
                                       chunk_size)
        if self.first_has_graph:
            first = self._anchor_mix(first, graph, bank.layer1_messages)
        hidden = F.relu(first + self.lin1.bias)
        second = F.linear(hidden, self.lin2.weight)
        if self.second_has_graph:
            if self.graph_space == "hidden":
                graph = self._anchor_graph(hidden, bank.hidden_embeddings, chunk_size)
            second = self._anchor_mix(second, graph, bank.layer2_messages)
        logits = second + self.lin2.bias
        self.train(was_training)
        if label_weight > 0:
            votes = weighted_sum(graph, bank.labels, x.shape[0])
            probs = (1 - label_weight) * logits.softmax(1) + label_weight * votes
            return probs.clamp_min(1e-12).log()
        return logits


def choose_bank(features: torch.Tensor, labels: torch.Tensor, size: int,
                method: str = "random", seed: int = 0, iterations: int = 20
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick the ``size`` anchors of an anchor bank from labelled training rows, equally many per
    class. ``"random"``: real training images drawn at random. ``"kmeans"``: the centres of a
    k-means (Lloyd, ``iterations`` rounds) run inside each class, so the anchors cover every
    class's modes instead of sampling its densest part. Returns ``(bank_x, bank_labels)``.
    """
    if method not in ("random", "kmeans"):
        raise ValueError(f"bank method must be 'random' or 'kmeans', got {method!r}")
    if features.shape[0] != labels.shape[0]:
        raise ValueError(f"{features.shape[0]} feature rows but {labels.shape[0]} labels")
    classes = torch.unique(labels)
    per_class = size // len(classes)
    if per_class < 1:
        raise ValueError(f"a bank of {size} cannot hold one anchor for each of {len(classes)} "
                         "classes")
    generator = torch.Generator().manual_seed(seed)
    chosen_x, chosen_y = [], []
    for label in classes.tolist():
        rows = features[labels == label]
        if len(rows) < per_class:
            raise ValueError(f"class {label} has {len(rows)} rows, fewer than the {per_class} "
                             "anchors asked of it")
        start = rows[torch.randperm(len(rows), generator=generator)[:per_class]]
        if method == "kmeans":
            centres = start.clone()
            for _ in range(iterations):
                assign = graphs.pairwise_sq_dists(rows, centres).argmin(1)
                sums = torch.zeros_like(centres).index_add_(0, assign, rows)
                counts = torch.bincount(assign, minlength=per_class).unsqueeze(1)
                # a centre that lost all its points stays where it was
                centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
            start = centres
        chosen_x.append(start)
        chosen_y.append(torch.full((per_class,), label, dtype=torch.long))
    return torch.cat(chosen_x), torch.cat(chosen_y)


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
        _, graph = student(features[part], return_graph=True)
        graph = graph.without_self_loops()
        batch_labels = labels[part].to(graph.src.device)
        agree = (batch_labels[graph.src] == batch_labels[graph.dst]).float()
        same += float((agree * graph.weight).sum())
        total += float(graph.weight.sum())
    return same / total
