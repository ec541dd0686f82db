"""The graph learning head, one small public step at a time (book chapter 4, "Learning the graph").

This module owns the differentiable sparse graph learning head:

1. :func:`pairwise_sq_dists` -- squared distances between embeddings;
2. :func:`adaptive_neighbors` / :func:`adaptive_neighbor_weights` -- the closed-form
   adaptive-neighbour weights (Nie et al. 2014), and :func:`neighbors_to_graph` to turn them
   into an edge list;
3. :func:`symmetrize`; 4. :func:`add_self_loops`; 5. :func:`normalize` (or
   :func:`row_normalize`), each on a dense ``[N, N]`` tensor or a sparse :class:`Graph`;

plus :func:`finish_graph` (steps 4-5 as the head and the baselines apply them) and
:func:`learn_graph`, the whole head on one batch.
"""
from __future__ import annotations

import torch

from .container import Graph, _check_square


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

    For a fixed sort order the weights are a ratio of linear functions of ``dist`` (smooth
    almost everywhere), so gradients
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


def finish_graph(graph: Graph, self_loop_weight: float, normalization: str) -> Graph:
    """The last steps on a symmetrised graph: ``normalization="sym"`` adds self-loops of
    ``self_loop_weight`` and applies the symmetric GCN normalisation :func:`normalize`;
    ``"row"`` applies :func:`row_normalize` (no self-loops). Anything else raises ``ValueError``.
    """
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
    return finish_graph(graph, self_loop_weight, normalization)
