"""cnn2gnn_lib: the companion library of the CNN2GNN book.

Modules, one idea each:

* :mod:`cnn2gnn_lib.config`: fast mode, seeding, device choice, artifact folders;
* :mod:`cnn2gnn_lib.data`: real image datasets in memory, subsets, augmentation, flat views;
* :mod:`cnn2gnn_lib.teachers`: the CNN teachers (CIFAR ResNets, adapted torchvision ResNets);
* :mod:`cnn2gnn_lib.training`: the teacher training loop, checkpoints, cached logits;
* :mod:`cnn2gnn_lib.graph`: graphs between images: the differentiable sparse graph learning
  head, the kNN baseline, the chunked builder, edge homophily;
* :mod:`cnn2gnn_lib.students`: the two-layer GNN student (batch and anchor inference, PyTorch
  and DGL message passing) and the MLP baseline;
* :mod:`cnn2gnn_lib.distill`: the response-based distillation loss;
* :mod:`cnn2gnn_lib.efficiency`: parameters, FLOPs and measured images/s;
* :mod:`cnn2gnn_lib.reproduce` and :mod:`cnn2gnn_lib.report`: the whole study and its tables;
* :mod:`cnn2gnn_lib.dgl_bridge`: the only place that imports DGL;
* :mod:`cnn2gnn_lib.plotting`: the figures of the book; :mod:`cnn2gnn_lib.book`: chapter setup;
* :mod:`cnn2gnn_lib.cli`: ``python -m cnn2gnn_lib``.

The core needs only PyTorch; DGL is optional (see :func:`cnn2gnn_lib.dgl_bridge.import_dgl`).
"""
from .config import budget, fast_mode, pick_device, seed_everything
from .data import load_dataset

__version__ = "0.1.0"
__all__ = ["budget", "fast_mode", "load_dataset", "pick_device", "seed_everything",
           "__version__"]
