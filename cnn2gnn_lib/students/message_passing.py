"""Message passing: how values travel along a graph's edges (``A @ X``).

Two interchangeable backends compute the same numbers from the same graph: plain PyTorch (a
sparse COO matrix product, CPU and CUDA) and DGL (``GraphConv(norm='none')`` fed the edge
weights; CPU only, since PyPI's DGL has no CUDA). Chapter 3 of the book ("Images as graphs")
shows both on a real batch.
"""
from __future__ import annotations

import torch
from torch import nn

from ..dgl_bridge import import_dgl
from ..graph import Graph

BACKENDS = ("auto", "torch", "dgl")


def weighted_sum(graph: Graph, values: torch.Tensor, num_targets: int | None = None
                 ) -> torch.Tensor:
    """``out[dst] += weight * values[src]`` over all edges, as one sparse matrix product.

    ``values`` has one row per source node; ``out`` has ``num_targets`` rows (default: the
    graph's nodes). A sparse COO product is 10-100x faster on the CPU than the equivalent
    ``index_add`` and passes gradients to both the weights and ``values``.
    """
    rows = graph.num_nodes if num_targets is None else num_targets
    # A Graph's indices are in range by construction, so the invariant check is skipped; the
    # context (rather than check_invariants=False) is what torch 2.11 needs to stay quiet.
    with torch.sparse.check_sparse_tensor_invariants(enable=False):
        matrix = torch.sparse_coo_tensor(torch.stack([graph.dst, graph.src]), graph.weight,
                                         (rows, values.shape[0]))
        return torch.sparse.mm(matrix, values)


_dgl_conv: nn.Module | None = None


def propagate_dgl(graph: Graph, features: torch.Tensor) -> torch.Tensor:
    """``A @ features`` with DGL: ``GraphConv(norm='none')`` fed the normalised edge weights.

    The convolution has no weight or bias of its own (the student holds them), so it is the pure
    weighted sum over in-edges; gradients reach both ``features`` and the edge weights.
    """
    global _dgl_conv
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
    return weighted_sum(graph, features)
