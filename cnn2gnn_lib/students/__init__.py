"""Students: the two-layer GNN of CNN2GNN and the MLP with the same widths.

One idea per module:

* :mod:`~cnn2gnn_lib.students.designs`: :class:`GraphDesign` (how a GNN student builds and
  uses its graph, validated once) and the study's design table;
* :mod:`~cnn2gnn_lib.students.message_passing`: ``A @ X`` on PyTorch or DGL;
* :mod:`~cnn2gnn_lib.students.layers`: :class:`GraphLinear`, one graph layer;
* :mod:`~cnn2gnn_lib.students.models`: the :class:`Student` interface, :class:`MLPStudent`,
  :class:`GNNStudent` (batch and anchor mode) and :func:`build_student`;
* :mod:`~cnn2gnn_lib.students.label_trick`: :class:`LabelInputGNN`, a GNN whose nodes may carry
  their known labels as inputs (the label trick);
* :mod:`~cnn2gnn_lib.students.inference`: batch-mode prediction over a split, graph homophily.

Chapters 5 ("The GNN student") and 6 ("Distillation") of the book explain them; training lives
in :mod:`cnn2gnn_lib.training`.
"""
from ..dgl_bridge import resolve_backend
from .designs import GNN_DESIGNS, MLP_DESIGNS, Design, GraphDesign, design_named
from .inference import batch_graph_homophily, batch_slices, predict_batches
from .label_trick import LabelInputGNN
from .layers import GraphLinear
from .message_passing import propagate, propagate_dgl, weighted_sum
from .models import AnchorBank, GNNStudent, MLPStudent, Student, build_student, evaluating

__all__ = ["AnchorBank", "Design", "GNN_DESIGNS", "GNNStudent", "GraphDesign", "GraphLinear",
           "LabelInputGNN", "MLP_DESIGNS", "MLPStudent", "Student", "batch_graph_homophily",
           "batch_slices", "build_student", "design_named", "evaluating", "predict_batches",
           "propagate", "propagate_dgl", "resolve_backend", "weighted_sum"]
