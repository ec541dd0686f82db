"""Graphs between images: the differentiable sparse graph learning head and its baselines.

This module owns graph *structure*: which images are connected, with what weight. It is written
as a pipeline of small public steps, so a notebook can show them one at a time
(``../shared/METHOD.md``, section 2):

1. :func:`pairwise_sq_dists` -- squared distances between embeddings (one matrix product);
2. :func:`adaptive_neighbors` -- the closed-form solution of the adaptive-neighbour problem
   (Nie et al. 2014): every row a probability distribution over exactly ``s`` neighbours,
   piecewise linear (hence differentiable) in the distances;
3. :func:`symmetrize` -- ``A = (P + P^T) / 2``;
4. :func:`add_self_loops` -- ``A + I``;
5. :func:`normalize` -- ``D^-1/2 A D^-1/2`` with the *weighted* degree (or
   :func:`row_normalize`, ``D^-1 A`` without self-loops, for students that mix a node's own
   message with the mean of its neighbours' at a chosen ratio).

:func:`learn_graph` chains them. The steps accept a dense ``[N, N]`` tensor (to look at) or a
sparse :class:`Graph` edge list (what the students use: ``N * s`` edges instead of ``N^2``).

Baselines and large node sets: :func:`knn_graph` (a fixed graph on raw inputs, through
``dgl.knn_graph`` where DGL imports), :func:`chunked_adaptive_graph` (a whole dataset split,
never materialising an ``N x N`` matrix) and :func:`edge_homophily` (how often an edge joins two
images of the same class).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

Backend = Literal["auto", "torch", "dgl"]


# --------------------------------------------------------------------------------------------
# The graph container


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
        if self.src.numel() and int(torch.maximum(self.src.max(), self.dst.max())) >= self.num_nodes:
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
        from .dgl_bridge import import_dgl

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


# --------------------------------------------------------------------------------------------
# Step 1: distances


def pairwise_sq_dists(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances ``[len(a), len(b)]`` (``b`` defaults to ``a``).

    Computed as ``|a|^2 + |b|^2 - 2 a b^T`` (one matrix product), clamped at 0 against rounding.
    With ``b`` omitted the diagonal is 0 (exactly when no gradient is tracked, up to rounding
    otherwise; the head never uses it).
    """
    same = b is None
    b = a if same else b
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected [N, D] and [M, D] embeddings, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    a_sq = (a * a).sum(1, keepdim=True)
    b_sq = a_sq.T if same else (b * b).sum(1).unsqueeze(0)
    dist = torch.addmm(b_sq, a, b.T, alpha=-2).add_(a_sq).clamp_min_(0)
    if same and not dist.requires_grad:
        dist.fill_diagonal_(0)  # exact zeros where rounding left tiny values
    return dist


# --------------------------------------------------------------------------------------------
# Step 2: adaptive neighbours (the differentiable sparse head)


def _candidates(dist: torch.Tensor, exclude_self: bool) -> int:
    rows, cols = dist.shape
    return cols - 1 if exclude_self and rows == cols else cols


def adaptive_neighbor_weights(dist: torch.Tensor, s: int, exclude_self: bool = True
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The sparse form of :func:`adaptive_neighbors`: ``(indices [B, s], weights [B, s])``.

    Row ``i`` connects to candidates ``indices[i]`` (nearest first) with ``weights[i]`` (>= 0,
    summing to 1). See :func:`adaptive_neighbors` for the maths and the special cases.
    """
    if dist.dim() != 2:
        raise ValueError(f"dist must be [B, M], got {tuple(dist.shape)}")
    if isinstance(s, bool) or not isinstance(s, int):
        raise TypeError(f"s must be an int, got {type(s).__name__}")
    candidates = _candidates(dist, exclude_self)
    if s < 1:
        raise ValueError(f"s must be >= 1 neighbour, got {s}")
    if s >= candidates:
        raise ValueError(f"s={s} neighbours need at least s+1={s + 1} candidates per row, but "
                         f"there are {candidates} (batch of {dist.shape[1]}"
                         f"{', self excluded' if candidates < dist.shape[1] else ''}); use a "
                         f"smaller s or a larger batch.")
    low, high = torch.aminmax(dist.detach())  # one pass; NaN propagates into both
    if not (torch.isfinite(low) and torch.isfinite(high)):
        raise ValueError("dist contains NaN or inf; check the embeddings the distances came from")
    if low < 0:
        raise ValueError("dist must be non-negative (squared distances)")
    if exclude_self and dist.shape[0] == dist.shape[1]:
        # Take s+2 nearest and drop the node itself (or, if a duplicate pushed it out, the last),
        # which avoids touching the whole [B, B] matrix again.
        nearest, indices = torch.topk(dist, s + 2, dim=1, largest=False, sorted=True)
        is_self = indices == torch.arange(dist.shape[0], device=dist.device).unsqueeze(1)
        last = torch.zeros_like(is_self)
        last[:, -1] = True
        keep = ~torch.where(is_self.any(1, keepdim=True), is_self, last)
        nearest = nearest[keep].view(-1, s + 1)
        indices = indices[keep].view(-1, s + 1)
    else:
        nearest, indices = torch.topk(dist, s + 1, dim=1, largest=False, sorted=True)
    return indices[:, :s], _closed_form(nearest)


def _closed_form(nearest: torch.Tensor) -> torch.Tensor:
    """Weights ``[B, s]`` from the ``s + 1`` smallest distances of each row, sorted."""
    s = nearest.shape[1] - 1
    margin = nearest[:, s:] - nearest[:, :s]        # d_i(s+1) - d_ij, >= 0, [B, s]
    denominator = margin.sum(1, keepdim=True)      # = s d_i(s+1) - sum_h d_i(h)
    # The closed form has exactly s non-zeros unless the s-th neighbour ties with the (s+1)-th
    # (then it would get 0), which includes duplicates (0 / 0). Those rows get the uniform answer.
    regular = margin[:, -1:] > 0
    safe = torch.where(regular, denominator, torch.ones_like(denominator))
    return torch.where(regular, margin / safe, torch.full_like(margin, 1.0 / s))


def adaptive_neighbors(dist: torch.Tensor, s: int, exclude_self: bool = True) -> torch.Tensor:
    r"""Connection probabilities ``P`` ``[B, M]`` from squared distances ``dist`` ``[B, M]``.

    Row ``i`` solves :math:`\min_p \sum_j p_j d_{ij} + \gamma_i \|p\|^2` subject to
    :math:`p \ge 0, \sum_j p_j = 1`, with :math:`\gamma_i` chosen so that exactly ``s`` entries
    are non-zero. With :math:`d_{i(1)} \le d_{i(2)} \le \dots` the sorted distances of row ``i``:

    .. math:: p_{ij} = \frac{\max(d_{i(s+1)} - d_{ij}, 0)}{s\, d_{i(s+1)} - \sum_{h=1}^{s} d_{i(h)}}

    The weights are piecewise linear in ``dist`` (the sort order is a constant), so gradients
    flow back into whatever produced the distances. When ``dist`` is square and
    ``exclude_self`` is true the diagonal is never a neighbour.

    Special cases, defined rather than undefined: when the ``s``-th nearest candidate ties with
    the ``(s+1)``-th (duplicate images give ``0/0``), the row is uniform over its ``s`` nearest
    (ties broken by position). ``s < 1``, ``s`` >= the number of candidates, or NaN/inf/negative
    distances raise ``ValueError``.
    """
    indices, weights = adaptive_neighbor_weights(dist, s, exclude_self)
    return torch.zeros_like(dist).scatter(1, indices, weights)


def neighbors_to_graph(indices: torch.Tensor, weights: torch.Tensor,
                       num_nodes: int | None = None) -> Graph:
    """Directed graph of a neighbour assignment: row ``i`` receives from ``indices[i]``.

    ``num_nodes`` defaults to the number of rows (queries and candidates are the same nodes).
    """
    rows, s = indices.shape
    dst = torch.arange(rows, device=indices.device).repeat_interleave(s)
    return Graph(indices.reshape(-1), dst, weights.reshape(-1), num_nodes or rows)


# --------------------------------------------------------------------------------------------
# Steps 3-5: symmetrise, self-loops, normalise (dense matrix or Graph)


def symmetrize(adjacency: torch.Tensor | Graph) -> torch.Tensor | Graph:
    """``(A + A^T) / 2``: an edge in either direction becomes an edge in both."""
    if isinstance(adjacency, Graph):
        g = adjacency
        return Graph(torch.cat([g.src, g.dst]), torch.cat([g.dst, g.src]),
                     torch.cat([g.weight, g.weight]) / 2, g.num_nodes).coalesce()
    _check_square(adjacency)
    return (adjacency + adjacency.T) / 2


def add_self_loops(adjacency: torch.Tensor | Graph, weight: float = 1.0
                   ) -> torch.Tensor | Graph:
    """``A + weight * I``: every node also keeps a share of its own message."""
    if isinstance(adjacency, Graph):
        g = adjacency
        nodes = torch.arange(g.num_nodes, device=g.src.device)
        loops = g.weight.new_full((g.num_nodes,), float(weight))
        return Graph(torch.cat([g.src, nodes]), torch.cat([g.dst, nodes]),
                     torch.cat([g.weight, loops]), g.num_nodes).coalesce()
    _check_square(adjacency)
    return adjacency + weight * torch.eye(adjacency.shape[0], dtype=adjacency.dtype,
                                          device=adjacency.device)


def normalize(adjacency: torch.Tensor | Graph) -> torch.Tensor | Graph:
    """``D^-1/2 A D^-1/2`` where ``D`` holds the *weighted* degrees (row sums of a symmetric A).

    Nodes of degree 0 stay unconnected (their factor is taken as 0, not infinity).
    """
    if isinstance(adjacency, Graph):
        g = adjacency
        degree = g.in_degree()
        scale = torch.where(degree > 0, degree.clamp_min(1e-12).rsqrt(), torch.zeros_like(degree))
        return Graph(g.src, g.dst, g.weight * scale[g.src] * scale[g.dst], g.num_nodes)
    _check_square(adjacency)
    degree = adjacency.sum(1)
    scale = torch.where(degree > 0, degree.clamp_min(1e-12).rsqrt(), torch.zeros_like(degree))
    return scale.unsqueeze(1) * adjacency * scale.unsqueeze(0)


def row_normalize(adjacency: torch.Tensor | Graph) -> torch.Tensor | Graph:
    """``D^-1 A``: the weights a node receives sum to 1, so ``A @ X`` is a weighted mean of its
    neighbours' rows. Nodes without in-edges stay unconnected."""
    if isinstance(adjacency, Graph):
        g = adjacency
        degree = g.in_degree()
        scale = torch.where(degree > 0, 1.0 / degree.clamp_min(1e-12), torch.zeros_like(degree))
        return Graph(g.src, g.dst, g.weight * scale[g.dst], g.num_nodes)
    _check_square(adjacency)
    degree = adjacency.sum(1, keepdim=True)
    return torch.where(degree > 0, adjacency / degree.clamp_min(1e-12),
                       torch.zeros_like(adjacency))


NORMALIZATIONS = ("sym", "row")


def _finish(graph: Graph, self_loop_weight: float, normalization: str) -> Graph:
    if normalization == "sym":
        return normalize(add_self_loops(graph, self_loop_weight))
    if normalization == "row":
        return row_normalize(graph)
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


def learn_graph(embeddings: torch.Tensor, s: int, self_loop_weight: float = 1.0,
                normalization: str = "sym") -> Graph:
    """The whole head on one batch: distances, adaptive neighbours, symmetrise, self-loops,
    normalise. Returns the sparse normalised graph ``A_hat`` (differentiable in its weights).

    ``normalization="row"`` skips the self-loops and returns ``D^-1 A`` instead (rows are
    distributions over the neighbours; the student decides how much a node keeps of itself).
    """
    dist = pairwise_sq_dists(embeddings)
    indices, weights = adaptive_neighbor_weights(dist, s, exclude_self=True)
    graph = symmetrize(neighbors_to_graph(indices, weights))
    return _finish(graph, self_loop_weight, normalization)


# --------------------------------------------------------------------------------------------
# Baselines and large node sets


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
    from .dgl_bridge import resolve_backend

    # dgl.knn_graph works on a CPU copy, so an explicit "dgl" is fine for data anywhere
    if resolve_backend(backend, "cpu" if backend == "dgl" else features.device) == "dgl":
        from .dgl_bridge import import_dgl

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
    return _finish(symmetrize(knn_graph(features, k, backend)), self_loop_weight, normalization)


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
    from tqdm.auto import tqdm

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
