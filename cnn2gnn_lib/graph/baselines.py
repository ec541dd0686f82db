"""Baselines and large node sets: graphs that are not learned on a batch.

This module owns :func:`knn_graph` (the fixed kNN graph on raw inputs, through
``dgl.knn_graph`` where DGL imports), :func:`fixed_knn_graph` (the same through the head's
symmetrise / self-loop / normalise steps), :func:`chunked_adaptive_graph` (adaptive-neighbour
edges for a whole dataset split, never materialising an ``N x N`` matrix) and
:func:`edge_homophily` (how often an edge joins two images of the same class), plus the
``Backend`` type of the kNN builders.
"""
from __future__ import annotations

from typing import Literal

import torch
from ..progress import tqdm

from ..dgl_bridge import resolve_backend
from .container import Graph
from .steps import _closed_form, finish_graph, neighbors_to_graph, pairwise_sq_dists, symmetrize

Backend = Literal["auto", "torch", "dgl"]


def knn_graph(features: torch.Tensor, k: int, backend: Backend = "auto") -> Graph:
    """The fixed baseline: every node receives an edge of weight 1 from its ``k`` nearest
    other nodes (Euclidean, self excluded). Not differentiable, not learned.

    ``backend='dgl'`` uses ``dgl.knn_graph`` (CPU); ``'torch'`` uses distances + ``topk``;
    ``'auto'`` takes DGL when it imports and the features are on the CPU.
    """
    if features.dim() != 2:
        raise ValueError(f"features must be [N, D], got {tuple(features.shape)}")
    n = features.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k={k} neighbours need 1 <= k < number of nodes ({n})")
    features = features.detach()
    # dgl.knn_graph works on a CPU copy, so an explicit "dgl" is fine for data anywhere
    if resolve_backend(backend, "cpu" if backend == "dgl" else features.device) == "dgl":
        from ..dgl_bridge import import_dgl

        dgl = import_dgl()
        graph = dgl.knn_graph(features.float().cpu(), k, algorithm="bruteforce-blas",
                              exclude_self=True)
        src, dst = graph.edges()
        src, dst = src.to(features.device), dst.to(features.device)
    else:
        dist = pairwise_sq_dists(features)
        dist.fill_diagonal_(float("inf"))
        src = torch.topk(dist, k, dim=1, largest=False).indices.reshape(-1)
        dst = torch.arange(n, device=features.device).repeat_interleave(k)
    weight = torch.ones(src.numel(), dtype=features.dtype, device=features.device)
    return Graph(src.long(), dst.long(), weight, n)


def fixed_knn_graph(features: torch.Tensor, k: int, self_loop_weight: float = 1.0,
                    backend: Backend = "auto", normalization: str = "sym") -> Graph:
    """:func:`knn_graph` through the same symmetrise / self-loop / normalise steps as the head."""
    return finish_graph(symmetrize(knn_graph(features, k, backend)), self_loop_weight,
                        normalization)


def chunked_adaptive_graph(queries: torch.Tensor, s: int, candidates: torch.Tensor | None = None,
                           chunk_size: int = 1024, progress: bool = False,
                           uniform: bool = False) -> Graph:
    """Adaptive-neighbour edges for a large node set, one block of rows at a time.

    Without ``candidates`` the nodes connect among themselves (self excluded) and the result is
    the directed graph of :func:`adaptive_neighbors` on the full distance matrix, with ``N * s``
    edges. With ``candidates`` (``[M, D]``) each query connects to its ``s`` nearest candidates:
    the returned graph's ``src`` indexes ``candidates``, ``dst`` indexes ``queries``, and
    ``num_nodes = max(N, M)``. Peak memory is ``chunk_size x M`` distances, never ``N x M``.
    Runs without gradients. ``uniform`` gives each of the ``s`` nearest the weight ``1/s``
    (the kNN baseline) instead of the adaptive weights.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    same = candidates is None
    bank = queries if same else candidates
    if queries.dim() != 2 or bank.dim() != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(f"expected [N, D] queries and [M, D] candidates, got "
                         f"{tuple(queries.shape)} and {tuple(bank.shape)}")
    n, m = queries.shape[0], bank.shape[0]
    available = m - 1 if same else m
    if not 1 <= s < available:
        raise ValueError(f"s={s} neighbours need s+1 <= {available} candidates per node")
    bank_sq = (bank * bank).sum(1)
    all_indices, all_weights = [], []
    starts = range(0, n, chunk_size)
    with torch.no_grad():
        for start in tqdm(starts, desc="neighbours", disable=not progress, leave=False):
            block = queries[start:start + chunk_size]
            dist = ((block * block).sum(1, keepdim=True) + bank_sq - 2 * block @ bank.T)
            dist = dist.clamp_min_(0)
            if same:
                rows = torch.arange(block.shape[0], device=block.device)
                dist[rows, rows + start] = float("inf")
            if not torch.isfinite(block).all():
                raise ValueError(f"rows {start}..{start + len(block) - 1} contain NaN or inf")
            nearest, indices = torch.topk(dist, s + 1, dim=1, largest=False, sorted=True)
            weights = (torch.full_like(nearest[:, :s], 1.0 / s) if uniform
                       else _closed_form(nearest))
            all_indices.append(indices[:, :s])
            all_weights.append(weights)
            del dist
    indices, weights = torch.cat(all_indices), torch.cat(all_weights)
    graph = neighbors_to_graph(indices, weights, max(n, m))
    return graph


def edge_homophily(graph: Graph | torch.Tensor, labels: torch.Tensor,
                   weighted: bool = True) -> float:
    """Share of edge weight (or of edges) joining two nodes of the same class, self-loops
    excluded. 1.0: every edge stays inside a class; about 1/K: edges ignore the classes."""
    if isinstance(graph, torch.Tensor):
        graph = Graph.from_dense(graph)
    graph = graph.without_self_loops().detach()
    if graph.num_edges == 0:
        raise ValueError("the graph has no edges besides self-loops")
    labels = labels.to(graph.src.device)
    same = (labels[graph.src] == labels[graph.dst]).float()
    weight = graph.weight if weighted else torch.ones_like(graph.weight)
    return float((same * weight).sum() / weight.sum())
