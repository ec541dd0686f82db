"""One graph layer: a linear map, then each node mixes its message with its neighbours'.

The formulas (chapter 5 of the book, "The GNN student"), for a layer with weight ``W`` and bias
``b`` on node states ``H``, ``M = H W`` the messages:

* GCN normalisation (self weight ``None``): ``H' = A_hat M + b`` with
  ``A_hat = D^-1/2 (A + w I) D^-1/2`` (the graph arrives normalised, self-loops included);
* a self weight ``lambda``: ``H' = lambda M + (1 - lambda) D^-1 A M + b`` (the graph arrives
  row-normalised, without self-loops);
* no graph: ``H' = M + b``, a plain linear layer.

The layer owns no graph: a :mod:`graph head <cnn2gnn_lib.graph.heads>` builds it and the student
passes it in. :meth:`GraphLinear.aggregate_from_bank` is the same rule in anchor mode, where a
node's neighbours are images of a fixed bank.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..dgl_bridge import resolve_backend
from ..graph import Graph
from .message_passing import propagate, weighted_sum

SelfWeight = torch.Tensor | float | None

# Anchor mode under GCN normalisation: a node keeps half of its own message and takes half from
# its s anchors. In batch mode a row of A_hat gives the node's own message w / d and its
# neighbours about (d - w) / d, d its weighted degree; the rows of the adaptive P sum to 1, so
# A = (P + P^T) / 2 has average degree 1 and, with the self-loop w = 1, d averages 2: one half each.
ANCHOR_GCN_SELF_WEIGHT = 0.5


class GraphLinear(nn.Linear):
    """``H' = mix(graph, H W) + b``: a linear layer whose outputs travel along a graph.

    Its parameters are those of :class:`torch.nn.Linear` (``weight``, ``bias``), so a student
    built from two of them keeps the parameter names of a two-layer perceptron. ``backend`` is
    the message-passing backend (``"auto"``, ``"torch"`` or ``"dgl"``).
    """

    def __init__(self, in_features: int, out_features: int, backend: str = "auto"):
        super().__init__(in_features, out_features)
        self.backend = backend

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The messages ``M = H W`` (no bias yet: it is added after mixing)."""
        return F.linear(x, self.weight)

    def aggregate(self, messages: torch.Tensor, graph: Graph | None,
                  self_weight: SelfWeight = None) -> torch.Tensor:
        """``mix(graph, M) + b`` in batch mode (``graph`` None: ``M + b``)."""
        if graph is None:
            return messages + self.bias
        neighbours = propagate(graph, messages, resolve_backend(self.backend, messages.device))
        if self_weight is None:
            return neighbours + self.bias
        return self_weight * messages + (1 - self_weight) * neighbours + self.bias

    def forward(self, x: torch.Tensor, graph: Graph | None = None,
                self_weight: SelfWeight = None) -> torch.Tensor:
        return self.aggregate(self.transform(x), graph, self_weight)

    def aggregate_from_bank(self, own: torch.Tensor, graph: Graph | None,
                            bank_messages: torch.Tensor, self_weight: SelfWeight = None
                            ) -> torch.Tensor:
        """Anchor mode: ``lambda M + (1 - lambda) sum_j a_ij M_bank[j] + b`` where ``graph``
        joins each node to its anchors (``src`` indexes the bank). GCN normalisation uses
        ``lambda = ANCHOR_GCN_SELF_WEIGHT``."""
        if graph is None:
            return own + self.bias
        share = ANCHOR_GCN_SELF_WEIGHT if self_weight is None else self_weight
        mixed = share * own + (1 - share) * weighted_sum(graph, bank_messages, own.shape[0])
        return mixed + self.bias
