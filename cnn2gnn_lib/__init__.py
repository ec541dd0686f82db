"""cnn2gnn_lib: the companion library of the CNN2GNN book.

Modules, one idea each (packages keep one idea per sub-module):

* :mod:`cnn2gnn_lib.config`: fast mode, seeding, device choice, artifact folders;
* :mod:`cnn2gnn_lib.data`: real image datasets in memory (``sources``: reading files;
  ``datasets``: the registry and :func:`load_dataset`; ``views``: subsets, augmentation, flat
  features);
* :mod:`cnn2gnn_lib.teachers`: the CNN teachers (CIFAR ResNets, adapted torchvision ResNets);
* :mod:`cnn2gnn_lib.graph`: graphs between images (``container``: the edge list; ``steps``: the
  differentiable sparse graph learning head as small steps; ``baselines``: kNN, the chunked
  builder, homophily; ``heads``: the head objects a student asks for its graphs);
* :mod:`cnn2gnn_lib.students`: the students (``designs``: :class:`GraphDesign` and the design
  table; ``layers``: one graph layer; ``message_passing``: PyTorch and DGL; ``models``: the
  student interface, the GNN and the MLP; ``inference``: batch-mode prediction);
* :mod:`cnn2gnn_lib.protocols`: how test batches are formed in batch mode (shuffled,
  class-sorted, Dirichlet, with training images joined), and evaluation under each;
* :mod:`cnn2gnn_lib.student_data`: a student configuration's data, built once;
* :mod:`cnn2gnn_lib.distill`: the distillation losses and their weighted terms;
* :mod:`cnn2gnn_lib.training`: ``checkpoints``, ``teacher`` and ``student`` training,
  ``callbacks`` of the student loop;
* :mod:`cnn2gnn_lib.metrics`: accuracy, in one place;
* :mod:`cnn2gnn_lib.progress`: the progress bars, with one switch to silence them all;
* :mod:`cnn2gnn_lib.efficiency`: parameters, FLOPs and measured images/s;
* :mod:`cnn2gnn_lib.study` (stage log, plan and lab, inference modes, protocol steps, names),
  :mod:`cnn2gnn_lib.reproduce` (runs the study) and :mod:`cnn2gnn_lib.report` (its tables);
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
