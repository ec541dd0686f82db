"""One batch graph across processes: the GNN student under data parallelism (chapter 9,
"Scaling out").

Under plain data parallelism each process would build the graph of its own ``B / N`` images,
so adding processes shrinks the graph and changes the model (the reason ``SyncBatchNorm``
exists for batch statistics). Here every process computes its own rows and the rows travel:

.. math::

    M_1 = X_r W_1 \\;\\to\\; \\text{gather} \\;\\to\\; A_1 = \\text{head}(M_1^{\\text{all}}),\\quad
    H_{1,r} = \\mathrm{ReLU}(A_1[r]\\, M_1^{\\text{all}} + b_1),\\quad
    Z_r = A_2[r]\\, (H_1 W_2)^{\\text{all}} + b_2

where ``[r]`` keeps the rows (in-edges) of process ``r``'s nodes. Gathers carry gradients back
to the rows' owners (:func:`all_gather_rows`), so ``N`` processes
with local batches of ``B / N`` compute exactly the logits and gradients of one process on the
whole batch of ``B``; :func:`batch_pass` with ``gather=None`` is that one process.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..graph import Graph
from .message_passing import weighted_sum
from .models import GNNStudent, _LayerGraphs

Gather = Callable[[torch.Tensor], torch.Tensor]


class _GatherRows(torch.autograd.Function):
    """All processes' rows forward; backward, each process's rows get the sum of every
    process's gradient for them (an all-reduce, then its own slice: Gloo has no reduce-scatter)."""

    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local.contiguous())
        ctx.rows, ctx.rank = local.shape[0], dist.get_rank()
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def all_gather_rows(local: torch.Tensor) -> torch.Tensor:
    """Every process's rows, in rank order, with gradients flowing back to their owners
    (the processes must hold equally many rows)."""
    return _GatherRows.apply(local)


def rows_of(graph: Graph | None, first: int, count: int) -> Graph | None:
    """The in-edges of nodes ``first .. first + count - 1``, renumbered ``0 .. count - 1``
    (sources keep their global numbers)."""
    if graph is None:
        return None
    mine = (graph.dst >= first) & (graph.dst < first + count)
    return Graph(graph.src[mine], graph.dst[mine] - first, graph.weight[mine], graph.num_nodes)


def _mix(layer, own: torch.Tensor, everyone: torch.Tensor, graph: Graph | None,
         self_weight) -> torch.Tensor:
    """:meth:`GraphLinear.aggregate` for a slice of the nodes: ``own`` its messages,
    ``everyone`` all nodes' messages, ``graph`` its in-edges."""
    if graph is None:
        return own + layer.bias
    neighbours = weighted_sum(graph, everyone, own.shape[0])
    if self_weight is None:  # GCN normalisation: the self-loop is one of the in-edges
        return neighbours + layer.bias
    return self_weight * own + (1 - self_weight) * neighbours + layer.bias


def batch_pass(model: GNNStudent, x: torch.Tensor, gather: Gather | None = None,
               rank: int = 0) -> torch.Tensor:
    """Batch-mode logits of this process's images ``x`` ``[b, F]`` in the graph of the whole
    (global) batch. ``gather`` maps this process's rows to every process's
    (:func:`all_gather_rows`); ``None`` means one process, whose batch is the whole batch.
    ``rank`` says where this process's rows sit in the gathered batch."""
    if x.dim() != 2 or x.shape[1] != model.in_features:
        raise ValueError(f"expected node features [b, {model.in_features}], got "
                         f"{tuple(x.shape)}")
    gather = gather or (lambda rows: rows)
    b, first = x.shape[0], rank * x.shape[0]
    xw1 = model.lin1.transform(x)                                      # X_r W1
    xw1_all = gather(xw1)

    def inputs() -> torch.Tensor:  # where the input-space graph looks, for every node
        if model.design.graph == "knn":
            return gather(x)
        return gather(model.projection(x)) if model.projection is not None else xw1_all

    graphs = _LayerGraphs(lambda source, embeddings: model.head.batch_graph(embeddings), inputs)
    first_source, second_source = model.design.sources
    weight = model.self_weight()
    g1 = rows_of(graphs.get(first_source), first, b)
    h1 = F.relu(_mix(model.lin1, xw1, xw1_all, g1, weight))           # H1 of my rows
    m2 = model.lin2.transform(model.dropout(h1))                       # H1 W2 of my rows
    hidden = gather(h1) if second_source == "hidden" else None
    g2 = rows_of(graphs.get(second_source, hidden), first, b)
    return _mix(model.lin2, m2, gather(m2) if g2 is not None else m2, g2, weight)
