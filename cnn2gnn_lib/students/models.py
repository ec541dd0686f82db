"""The students: the two-layer GNN of CNN2GNN and the MLP with the same widths.

Every student takes flat, standardised images (:func:`cnn2gnn_lib.data.flat_features`) and
returns logits, and offers the same small interface (:class:`Student`): the smallest batch it
can take, the inference modes it has, its graph head (``None`` for the MLP) and the FLOPs its
message passing adds. Nothing outside this package needs to know which student it holds.

The GNN student (chapter 5 of the book, "The GNN student") reads like the paper's equations::

    H1 = ReLU(A1 X W1 + b1)         (dropout)
    Z  = A2 H1 W2 + b2              (logits)

where each ``A`` is built for the batch by a :mod:`graph head <cnn2gnn_lib.graph.heads>` and
mixed by a :class:`~cnn2gnn_lib.students.layers.GraphLinear`; a :class:`GraphDesign` says which
layers have a graph, where it is learned and how a node keeps its own message.

Inference: *batch mode* is ``student(x)``: a test batch builds its own graph, so a prediction
depends on the other images of its batch. *Anchor mode* (:meth:`GNNStudent.build_anchor_bank`,
:meth:`GNNStudent.predict_anchor`) connects every image only to its ``s`` nearest images of a
fixed bank of training images, so a prediction depends on that image alone.

*Label vote*: in anchor mode the bank images' known labels can vote beside the network, weighted
by the graph that links an image to its bank neighbours. The MLP has the same vote, so that a
GNN-versus-MLP comparison gives both the same help: its bank is searched in its own hidden space
``ReLU(W1 x + b1)`` by a graph head of the rule the GNN uses (:meth:`MLPStudent.build_anchor_bank`).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..graph import Graph
from ..graph.heads import BANK_CHUNK, GraphHead, make_head
from .designs import GraphDesign
from .layers import GraphLinear, SelfWeight
from .message_passing import BACKENDS, weighted_sum


def _check_input(x: torch.Tensor, in_features: int) -> None:
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ValueError(f"expected flat images [B, {in_features}], got {tuple(x.shape)}; "
                         "use data.flat_features or images.flatten(1)")


@contextmanager
def evaluating(model: nn.Module):
    """Eval mode (no dropout) for the duration, then the mode the model had before."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


class Student(nn.Module):
    """What every student offers the training loop, the inference modes and the measurements.

    ``inference_modes`` names what :meth:`predict_anchor` can do beyond ``student(x)``:
    ``"anchor"`` (the graph joins each image to a bank) and ``"vote"`` (the bank's labels vote).
    ``reads_labels``: the bank's labels are inputs of the student (the label trick,
    :mod:`~cnn2gnn_lib.students.label_trick`), so every bank it builds needs them.
    """

    head: GraphHead | None = None
    inference_modes: tuple[str, ...] = ("batch",)
    reads_labels: bool = False

    @property
    def min_batch(self) -> int:
        """The smallest batch the student can take (a graph needs ``s + 2`` nodes)."""
        return 1 if self.head is None else self.head.min_batch

    def message_passing_flops(self, x: torch.Tensor) -> float:
        """FLOPs that message passing adds to ``self(x)`` (not matrix products)."""
        return 0.0


class MLPStudent(Student):
    """``Z = W2 ReLU(W1 x + b1) + b2``: the GNN student without a graph (same widths).

    Its predictions never depend on other images. With a bank (:meth:`build_anchor_bank`) the
    bank's labels can vote beside them, found in its hidden space ``H1 = ReLU(W1 x + b1)``.
    """

    inference_modes = ("batch", "vote")

    def __init__(self, in_features: int, hidden: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.in_features = in_features
        self.lin1 = nn.Linear(in_features, hidden)
        self.lin2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_features)
        return self.lin2(self.dropout(self.hidden(x)))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``H1 = ReLU(W1 x + b1)``: the hidden space in which a label vote finds neighbours."""
        return F.relu(self.lin1(x))

    @torch.no_grad()
    def build_anchor_bank(self, bank_x: torch.Tensor, head: GraphHead,
                          labels: torch.Tensor) -> "AnchorBank":
        """A bank whose ``labels`` (class indices ``[m]`` or distributions) vote in
        :meth:`predict_anchor`. ``head`` links an image to its bank neighbours, found in the
        MLP's hidden space: give it the rule of the GNN the MLP is compared with
        (``make_head(**design.head_options)``), so both get the same help."""
        _check_input(bank_x, self.in_features)
        if head is None or labels is None:
            raise ValueError("an MLP's bank serves only the label vote: it needs a graph head "
                             "(the rule of the GNN it is compared with) and the bank's labels")
        if bank_x.shape[0] <= head.s:
            raise ValueError(f"a bank needs more than s={head.s} images, got {bank_x.shape[0]}")
        with evaluating(self):
            hidden = self.hidden(bank_x)
        labels = _label_distributions(labels, bank_x.shape[0], self.lin2.out_features)
        return AnchorBank({"hidden": hidden}, None, bank_x.shape[0], labels, vote_head=head)

    @torch.no_grad()
    def predict_anchor(self, x: torch.Tensor, bank: "AnchorBank", chunk_size: int = BANK_CHUNK,
                       label_weight: float = 0.0) -> torch.Tensor:
        """``log((1 - beta) softmax(Z) + beta sum_j a_ij y_j)``: the MLP's own prediction and the
        labels of its bank neighbours, weighted by the head's graph in hidden space (the same
        rule as :meth:`GNNStudent.predict_anchor`). ``beta = 0`` gives the plain logits."""
        _check_input(x, self.in_features)
        _check_label_weight(label_weight, bank)
        with evaluating(self):
            hidden = self.hidden(x)
            logits = self.lin2(hidden)
        if label_weight == 0:
            return logits
        graph = bank.vote_head.bank_graph(hidden, bank.embeddings["hidden"], chunk_size)
        return _vote(logits, graph, bank.labels, label_weight)


def _check_label_weight(label_weight: float, bank: "AnchorBank") -> None:
    if not 0 <= label_weight <= 1:
        raise ValueError(f"label_weight must be in [0, 1], got {label_weight}")
    if label_weight > 0 and bank.labels is None:
        raise ValueError("label_weight > 0 needs a bank built with labels "
                         "(build_anchor_bank(..., labels=...))")


def _vote(logits: torch.Tensor, graph: Graph, labels: torch.Tensor, weight: float
          ) -> torch.Tensor:
    """Log of ``(1 - weight) softmax(logits) + weight * sum_j a_ij y_j`` (one hop of labels)."""
    votes = weighted_sum(graph, labels, logits.shape[0])
    return ((1 - weight) * logits.softmax(1) + weight * votes).clamp_min(1e-12).log()


@dataclass
class AnchorBank:
    """What anchor-mode inference needs of a bank of training images, computed once."""

    embeddings: dict[str, torch.Tensor]  # per graph source: where queries look for anchors
    messages: tuple[torch.Tensor, torch.Tensor] | None  # X_bank W1, H1_bank W2 (GNN only)
    size: int
    labels: torch.Tensor | None = None  # label distributions of the bank images, [m, classes]
    vote_head: GraphHead | None = None  # the MLP's: links images to bank rows for the vote


class _LayerGraphs:
    """The graphs of one pass, each source's built at most once, in the order layers ask:
    ``build(source, embeddings)`` makes one. A ``given`` graph stands in for the first one
    that would be built (``GNNStudent.forward(x, graph=...)``)."""

    def __init__(self, build: Callable[[str, torch.Tensor], Graph],
                 inputs: Callable[[], torch.Tensor], given: Graph | None = None):
        self.build, self.inputs, self.given = build, inputs, given
        self.built: dict[str, Graph] = {}
        self.last: Graph | None = None

    def get(self, source: str | None, hidden: torch.Tensor | None = None) -> Graph | None:
        if source is None:
            return None
        if source not in self.built:
            if self.given is not None:
                self.built[source], self.given = self.given, None
            else:
                embeddings = self.inputs() if source == "input" else hidden
                self.built[source] = self.build(source, embeddings)
        self.last = self.built[source]
        return self.last


class GNNStudent(Student):
    """The two-layer GNN student whose nodes are the images of a batch.

    ``GNNStudent(in_features, hidden, num_classes, design)`` with a :class:`GraphDesign`, or
    with its options as keywords (``GNNStudent(784, 512, 10, s=10, graph="knn")``).
    ``dropout`` acts on the hidden states; ``backend`` (``"auto"``, ``"torch"``, ``"dgl"``)
    runs message passing and the kNN baseline.
    """

    inference_modes = ("batch", "anchor", "vote")

    def __init__(self, in_features: int, hidden: int, num_classes: int,
                 design: GraphDesign | None = None, *, dropout: float = 0.5,
                 backend: str = "auto", **design_options):
        super().__init__()
        if design is not None and design_options:
            raise ValueError(f"pass a GraphDesign or its options, not both "
                             f"({sorted(design_options)})")
        design = design if design is not None else GraphDesign(**design_options)
        self.design, self.in_features = design, in_features
        self.lin1 = GraphLinear(in_features, hidden)
        self.lin2 = GraphLinear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)
        self.projection = (nn.Linear(in_features, design.projection_dim, bias=False)
                           if design.uses_projection else None)
        # sigmoid(0) = 0.5: a learned self weight starts where anchor mode's fixed mix sits
        self.self_logit = (nn.Parameter(torch.zeros(())) if design.self_weight == "learned"
                           else None)
        self.head = make_head(**design.head_options)
        self.backend = backend

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {value!r}")
        self._backend = self.lin1.backend = self.lin2.backend = self.head.backend = value

    @property
    def s(self) -> int:
        """Neighbours per node (the head's sparsity)."""
        return self.head.s

    def self_weight(self) -> SelfWeight:
        """``lambda``, the share of its own message a node keeps (None: GCN normalisation)."""
        if self.self_logit is not None:
            return torch.sigmoid(self.self_logit)
        return None if self.design.self_weight is None else float(self.design.self_weight)

    def embed(self, x: torch.Tensor, xw1: torch.Tensor) -> torch.Tensor:
        """Where the input-space graph finds neighbours: raw ``x`` (kNN), ``X P`` or ``X W1``."""
        if self.design.graph == "knn":
            return x
        return self.projection(x) if self.projection is not None else xw1

    def forward(self, x: torch.Tensor, graph: Graph | None = None, return_graph: bool = False):
        """Batch-mode logits; ``graph`` replaces the first graph the batch would build, and
        ``return_graph=True`` also returns the graph of the last layer that passes messages."""
        _check_input(x, self.in_features)
        z, graphs = self._batch_pass(x, graph)
        return (z, graphs.last) if return_graph else z

    def _batch_pass(self, x: torch.Tensor, given: Graph | None = None
                    ) -> tuple[torch.Tensor, _LayerGraphs]:
        """``H1 = ReLU(A1 X W1 + b1)``, ``Z = A2 H1 W2 + b2``; also the graphs it built."""
        xw1 = self.lin1.transform(x)                                          # X W1
        graphs = _LayerGraphs(lambda source, embeddings: self.head.batch_graph(embeddings),
                              lambda: self.embed(x, xw1), given)
        first, second = self.design.sources
        h1 = F.relu(self.lin1.aggregate(xw1, graphs.get(first), self.self_weight()))
        z = self.lin2.aggregate(self.lin2.transform(self.dropout(h1)), graphs.get(second, h1),
                                self.self_weight())                           # A2 H1 W2 + b2
        return z, graphs

    def build_graph(self, x: torch.Tensor) -> Graph:
        """The graph of a batch in the input space (the one both layers use in the paper)."""
        _check_input(x, self.in_features)
        return self.head.batch_graph(self.embed(x, self.lin1.transform(x)))

    def message_passing_flops(self, x: torch.Tensor) -> float:
        """2 FLOPs per edge and feature, in every layer that passes messages."""
        with torch.no_grad(), evaluating(self):
            _, graphs = self._batch_pass(x)
        widths = (self.lin1.out_features, self.lin2.out_features)
        return sum(2.0 * graphs.built[source].num_edges * width
                   for source, width in zip(self.design.sources, widths) if source)

    # -- anchor mode ----------------------------------------------------------------------

    @torch.no_grad()
    def build_anchor_bank(self, bank_x: torch.Tensor, chunk_size: int = BANK_CHUNK,
                          labels: torch.Tensor | None = None) -> AnchorBank:
        """Precompute the bank's embeddings and messages for anchor mode (eval mode).

        Bank images connect to their ``s`` nearest *other* bank images by the same rule, which
        gives their hidden states; test images later connect to bank images only. ``labels``
        (class indices ``[m]`` or distributions ``[m, classes]``, e.g. the teacher's soft
        labels) let :meth:`predict_anchor` mix the neighbours' labels into a prediction.
        """
        _check_input(bank_x, self.in_features)
        if bank_x.shape[0] <= self.s + 1:
            raise ValueError(f"an anchor bank needs more than s+1={self.s + 1} images, got "
                             f"{bank_x.shape[0]}")
        labels = _label_distributions(labels, bank_x.shape[0], self.lin2.out_features)
        with evaluating(self):
            xw1 = self.lin1.transform(bank_x)
            inputs = self.embed(bank_x, xw1)
            first, second = self.design.sources
            inner = self.head.bank_graph(inputs, None, chunk_size) if first else None
            h1 = F.relu(self.lin1.aggregate_from_bank(xw1, inner, xw1, self.self_weight()))
            # in the shared space inputs is X W1 itself: keep two tensors, so the messages and
            # the anchor search never move together
            embeddings = {"input": inputs.clone() if inputs is xw1 else inputs, "hidden": h1}
            used = {source: embeddings[source] for source in (first, second) if source}
            return AnchorBank(used, (xw1, self.lin2.transform(h1)), bank_x.shape[0], labels)

    @torch.no_grad()
    def predict_anchor(self, x: torch.Tensor, bank: AnchorBank, chunk_size: int = BANK_CHUNK,
                       label_weight: float = 0.0) -> torch.Tensor:
        """Logits in anchor mode: each image sees only itself and its ``s`` nearest bank images,
        so its prediction does not depend on which other images are predicted with it.

        ``label_weight`` ``beta`` > 0 (a bank built with ``labels``) returns the log of
        ``(1 - beta) softmax(logits) + beta * sum_j a_ij y_j``: the neighbours' known labels,
        weighted by the graph, vote alongside the network (label propagation over one hop).
        """
        _check_input(x, self.in_features)
        _check_label_weight(label_weight, bank)
        with evaluating(self):
            xw1 = self.lin1.transform(x)
            graphs = _LayerGraphs(
                lambda source, queries: self.head.bank_graph(queries, bank.embeddings[source],
                                                             chunk_size),
                lambda: self.embed(x, xw1))
            first, second = self.design.sources
            h1 = F.relu(self.lin1.aggregate_from_bank(xw1, graphs.get(first), bank.messages[0],
                                                      self.self_weight()))
            logits = self.lin2.aggregate_from_bank(self.lin2.transform(h1),
                                                   graphs.get(second, h1), bank.messages[1],
                                                   self.self_weight())
        if label_weight == 0:
            return logits
        return _vote(logits, graphs.last, bank.labels, label_weight)


def _label_distributions(labels: torch.Tensor | None, size: int, num_classes: int
                         ) -> torch.Tensor | None:
    """Bank labels as ``[size, num_classes]`` float distributions (class indices one-hot)."""
    if labels is None:
        return None
    if labels.dim() == 1:
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"bank labels must lie in [0, {num_classes})")
        labels = F.one_hot(labels.long(), num_classes).float()
    if labels.shape != (size, num_classes):
        raise ValueError(f"bank labels must be [{size}] class indices or [{size}, "
                         f"{num_classes}] distributions, got {tuple(labels.shape)}")
    return labels.float()


def build_student(kind: str, in_features: int, hidden: int, num_classes: int, **options
                  ) -> Student:
    """``kind``: ``"mlp"``, ``"gnn-learned"`` or ``"gnn-knn"``; options go to the model
    (the MLP takes ``dropout`` only; a GNN also takes the :class:`GraphDesign` options)."""
    if kind == "mlp":
        return MLPStudent(in_features, hidden, num_classes, **options)
    if kind in ("gnn-learned", "gnn-knn"):
        return GNNStudent(in_features, hidden, num_classes, graph=kind[4:], **options)
    raise ValueError(f"unknown student {kind!r}; known: mlp, gnn-learned, gnn-knn")
