"""The graph container: :class:`Graph`, a weighted directed graph stored as an edge list.

This module owns the data structure every other part of :mod:`cnn2gnn_lib.graph` passes around
(and the students consume): ``src``, ``dst``, ``weight`` and ``num_nodes``, with conversions to
a dense matrix, DGL and networkx, plus :func:`_check_square`, the shape check shared by the
dense versions of the steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Graph:
    """A weighted directed graph as an edge list: a message flows ``src -> dst`` with ``weight``.

    As a matrix, ``A[dst, src] = weight`` (duplicates summed), so propagation is ``A @ X``.
    ``weight`` may carry gradients back to the embeddings the graph was learned from.
    """

    src: torch.Tensor
    dst: torch.Tensor
    weight: torch.Tensor
    num_nodes: int

    def __post_init__(self):
        if not (self.src.shape == self.dst.shape == self.weight.shape) or self.src.dim() != 1:
            raise ValueError(f"src, dst and weight must be 1-D of equal length, got "
                             f"{tuple(self.src.shape)}, {tuple(self.dst.shape)}, "
                             f"{tuple(self.weight.shape)}")
        if self.src.numel() and \
                int(torch.maximum(self.src.max(), self.dst.max())) >= self.num_nodes:
            raise ValueError(f"an edge points at a node >= num_nodes={self.num_nodes}")

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    def to_dense(self) -> torch.Tensor:
        """The ``[N, N]`` matrix with ``A[dst, src] = weight``."""
        dense = self.weight.new_zeros(self.num_nodes * self.num_nodes)
        dense = dense.index_add(0, self.dst * self.num_nodes + self.src, self.weight)
        return dense.view(self.num_nodes, self.num_nodes)

    @classmethod
    def from_dense(cls, matrix: torch.Tensor) -> "Graph":
        """The non-zero entries of ``matrix`` (``matrix[dst, src]``) as a graph."""
        _check_square(matrix)
        dst, src = matrix.nonzero(as_tuple=True)
        return cls(src, dst, matrix[dst, src], matrix.shape[0])

    def to(self, device) -> "Graph":
        return Graph(self.src.to(device), self.dst.to(device), self.weight.to(device),
                     self.num_nodes)

    def detach(self) -> "Graph":
        return Graph(self.src, self.dst, self.weight.detach(), self.num_nodes)

    def without_self_loops(self) -> "Graph":
        keep = self.src != self.dst
        return Graph(self.src[keep], self.dst[keep], self.weight[keep], self.num_nodes)

    def coalesce(self) -> "Graph":
        """Merge duplicate edges (summing weights) and sort by ``(dst, src)``."""
        keys = self.dst * self.num_nodes + self.src
        unique, inverse = torch.unique(keys, return_inverse=True)
        weight = self.weight.new_zeros(unique.numel()).index_add(0, inverse, self.weight)
        return Graph(unique % self.num_nodes, unique // self.num_nodes, weight, self.num_nodes)

    def in_degree(self) -> torch.Tensor:
        """Weighted in-degree of every node (the row sums of the matrix)."""
        return self.weight.new_zeros(self.num_nodes).index_add(0, self.dst, self.weight)

    def to_dgl(self):
        """A ``DGLGraph`` with the weights in ``edata['weight']`` (needs DGL; CPU only)."""
        from ..dgl_bridge import import_dgl

        dgl = import_dgl()
        graph = dgl.graph((self.src.cpu(), self.dst.cpu()), num_nodes=self.num_nodes)
        graph.edata["weight"] = self.weight.detach().cpu()
        return graph

    def to_networkx(self, labels: torch.Tensor | None = None):
        """An undirected ``networkx.Graph`` (self-loops dropped, the two directions merged).

        Edge attribute ``weight`` is the sum of both directions; node attribute ``label`` is set
        when ``labels`` is given.
        """
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(self.num_nodes))
        if labels is not None:
            for node, label in enumerate(labels.tolist()):
                graph.nodes[node]["label"] = label
        plain = self.without_self_loops().detach()
        for u, v, w in zip(plain.src.tolist(), plain.dst.tolist(), plain.weight.tolist()):
            a, b = min(u, v), max(u, v)
            previous = graph.edges[a, b]["weight"] if graph.has_edge(a, b) else 0.0
            graph.add_edge(a, b, weight=previous + w)
        return graph


def _check_square(matrix: torch.Tensor) -> None:
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"expected a square [N, N] matrix, got {tuple(matrix.shape)}")
