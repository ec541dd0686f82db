"""Graph heads: the objects a GNN student asks for its graphs.

A head answers two questions, whatever rule it uses to connect images:

* :meth:`GraphHead.batch_graph`: the normalised graph of a batch of embeddings (batch mode);
* :meth:`GraphHead.bank_graph`: each query's ``s`` nearest images of a fixed bank (anchor
  mode), or of the bank itself, built chunk by chunk so no ``N x M`` matrix is ever held.

:class:`AdaptiveHead` is the differentiable sparse graph learning head of CNN2GNN (chapter 4,
"Learning the graph"); :class:`KNNHead` is the fixed kNN baseline on raw pixels (chapter 3,
"Images as graphs"). Both compose the step functions of :mod:`cnn2gnn_lib.graph.steps` and
:mod:`cnn2gnn_lib.graph.baselines`; neither adds a rule of its own.

``normalization`` is ``"sym"`` (GCN: ``D^-1/2 (A + w I) D^-1/2`` with ``w`` the self-loop
weight) or ``"row"`` (``D^-1 A``, no self-loop, for students that choose how much a node keeps
of itself; see :class:`cnn2gnn_lib.students.layers.GraphLinear`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from ..dgl_bridge import resolve_backend
from .baselines import chunked_adaptive_graph, fixed_knn_graph
from .container import Graph
from .steps import NORMALIZATIONS, learn_graph

HEAD_KINDS = ("learned", "knn")
# Rows of queries per block in bank graphs: 1024 x 10,000 float distances (40 MB) keep the
# matrix products large enough to be fast while peak memory stays small on a laptop or Colab.
BANK_CHUNK = 1024


class GraphHead(ABC):
    """What every head shares: the sparsity ``s``, the normalisation, the batch-size check;
    a head is one of its subclasses, which say how a batch is connected (:meth:`batch_graph`).

    ``s`` may change between epochs (a sparsity schedule sets it from a training callback).
    ``backend`` (``"auto"``, ``"torch"``, ``"dgl"``) is where neighbours are found by a library
    (the kNN baseline); the adaptive head computes its own.
    """

    learnable = False

    def __init__(self, s: int, normalization: str = "sym", self_loop_weight: float = 1.0,
                 backend: str = "auto"):
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise ValueError(f"s must be an int >= 1, got {s!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got "
                             f"{normalization!r}")
        self.s, self.normalization, self.self_loop_weight = s, normalization, self_loop_weight
        self.backend = backend

    @property
    def min_batch(self) -> int:
        """The smallest batch whose images can each have ``s`` neighbours."""
        return self.s + 2

    def check_batch(self, size: int) -> None:
        if size < self.min_batch:
            raise ValueError(f"a batch of {size} images cannot give each image s={self.s} "
                             f"neighbours; use batches of at least {self.min_batch} images")

    @abstractmethod
    def batch_graph(self, embeddings: torch.Tensor) -> Graph:
        """The normalised graph of a batch of embeddings ``[B, D]``."""

    def bank_graph(self, queries: torch.Tensor, bank: torch.Tensor | None = None,
                   chunk_size: int = BANK_CHUNK) -> Graph:
        """Edges from each query's ``s`` nearest bank rows (``src`` indexes ``bank``, ``dst``
        indexes ``queries``); without ``bank`` the queries connect among themselves, self
        excluded. No gradients; peak memory ``chunk_size x len(bank)`` distances."""
        return chunked_adaptive_graph(queries, self.s, candidates=bank, chunk_size=chunk_size,
                                      uniform=not self.learnable)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(s={self.s}, normalization={self.normalization!r}, "
                f"self_loop_weight={self.self_loop_weight:g})")


class AdaptiveHead(GraphHead):
    """The differentiable head: adaptive neighbours on the embeddings, then symmetrise and
    normalise (:func:`cnn2gnn_lib.graph.learn_graph`). Gradients reach the embeddings through
    the edge weights, so the embedding that places the nodes is learned with the task."""

    learnable = True

    def batch_graph(self, embeddings: torch.Tensor) -> Graph:
        self.check_batch(embeddings.shape[0])
        return learn_graph(embeddings, self.s, self.self_loop_weight, self.normalization)


class KNNHead(GraphHead):
    """The fixed baseline: every image's ``s`` nearest images by Euclidean distance on the
    embeddings it is given (raw pixels), weight 1, then the same symmetrise and normalise steps.
    Nothing is learned; ``backend`` picks DGL's or PyTorch's kNN (the same graph)."""

    def batch_graph(self, embeddings: torch.Tensor) -> Graph:
        self.check_batch(embeddings.shape[0])
        return fixed_knn_graph(embeddings, self.s, self.self_loop_weight,
                               resolve_backend(self.backend, embeddings.device),
                               self.normalization)


def make_head(kind: str, s: int, normalization: str = "sym", self_loop_weight: float = 1.0,
              backend: str = "auto") -> GraphHead:
    """The head named ``kind``: ``"learned"`` (:class:`AdaptiveHead`) or ``"knn"``."""
    heads = {"learned": AdaptiveHead, "knn": KNNHead}
    if kind in heads:
        return heads[kind](s, normalization, self_loop_weight, backend)
    raise ValueError(f"graph must be one of {HEAD_KINDS}, got {kind!r}")
