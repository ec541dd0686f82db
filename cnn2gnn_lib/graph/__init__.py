"""Graphs between images: the differentiable sparse graph learning head and its baselines.

This package owns graph *structure*: which images are connected, with what weight. It is written
as a pipeline of small public steps, so a notebook can show them one at a time (chapter 3
"Images as graphs", ``notebooks/03_images_as_graphs.ipynb``, and chapter 4 "Learning the
graph", ``notebooks/04_learning_the_graph.ipynb``, of the book):

1. :func:`pairwise_sq_dists` -- squared distances between embeddings (one matrix product);
2. :func:`adaptive_neighbors` -- the closed-form solution of the adaptive-neighbour problem
   (Nie et al. 2014): every row a probability distribution over exactly ``s`` neighbours,
   piecewise linear (hence differentiable) in the distances;
3. :func:`symmetrize` -- ``A = (P + P^T) / 2``;
4. :func:`add_self_loops` -- ``A + I``;
5. :func:`normalize` -- ``D^-1/2 A D^-1/2`` with the *weighted* degree (or
   :func:`row_normalize`, ``D^-1 A`` without self-loops, for students that mix a node's own
   message with the mean of its neighbours' at a chosen ratio).

:func:`finish_graph` applies steps 4-5 as chosen by ``normalization``; :func:`learn_graph`
chains all of them. The steps accept a dense ``[N, N]`` tensor (to look at) or a sparse
:class:`Graph` edge list (what the students use: ``N * s`` edges instead of ``N^2``).

Where things live:

* :mod:`.container` -- :class:`Graph`, the edge-list container, and its conversions;
* :mod:`.steps` -- steps 1-5, :func:`finish_graph` and :func:`learn_graph`;
* :mod:`.baselines` -- :func:`knn_graph` (a fixed graph on raw inputs, through
  ``dgl.knn_graph`` where DGL imports), :func:`fixed_knn_graph`, :func:`chunked_adaptive_graph`
  (a whole dataset split, never materialising an ``N x N`` matrix) and :func:`edge_homophily`
  (how often an edge joins two images of the same class);
* :mod:`.heads` -- :class:`AdaptiveHead` and :class:`KNNHead`, the objects a student asks for
  the graph of a batch and for the graph from queries to a bank; they compose the steps above.

Everything is re-exported here: ``from cnn2gnn_lib import graph; graph.learn_graph(...)``.
"""
from __future__ import annotations

from .baselines import (Backend, chunked_adaptive_graph, edge_homophily, fixed_knn_graph,
                        knn_graph)
from .container import Graph
from .heads import AdaptiveHead, GraphHead, KNNHead, make_head
from .steps import (NORMALIZATIONS, adaptive_neighbor_weights, adaptive_neighbors,
                    add_self_loops, finish_graph, learn_graph, neighbors_to_graph, normalize,
                    pairwise_sq_dists, row_normalize, symmetrize)

__all__ = [
    "AdaptiveHead", "Backend", "Graph", "GraphHead", "KNNHead", "NORMALIZATIONS",
    "adaptive_neighbor_weights", "adaptive_neighbors",
    "add_self_loops", "chunked_adaptive_graph", "edge_homophily", "finish_graph",
    "fixed_knn_graph", "knn_graph", "learn_graph", "neighbors_to_graph", "normalize",
    "make_head", "pairwise_sq_dists", "row_normalize", "symmetrize",
]
