"""The label trick: a GNN student whose nodes may carry their known label as an input.

Wang et al. (2021, "Bag of tricks for node classification with graph neural networks") train a
GNN with the labels of part of the nodes given as input features and the loss taken on the
other nodes, so the network learns to read its neighbours' labels; at test time every node
whose label is known gives it. In this book's batch graphs the known labels are those of
training images: in training, a random share of each batch; in anchor mode, the bank's.
Node ``i``'s input is its image with its label (one-hot, or a distribution) appended::

    x'_i = [x_i, m_i y_i]          m_i = 1 where the label is known, else 0

and :class:`LabelInputGNN` is an ordinary :class:`~cnn2gnn_lib.students.GNNStudent` over these
inputs, so the formulas of chapter 5 hold unchanged. A test image never carries a label: in
batch mode no node does, and in anchor mode only the bank's images do, so a prediction uses the
bank's labels through the graph and nothing of the other test images. The MLP cannot read
other images' labels; its fair counterpart is the label vote (:meth:`MLPStudent.predict_anchor`).
"""
from __future__ import annotations

import torch

from ..graph.heads import BANK_CHUNK, GraphHead
from .models import AnchorBank, GNNStudent, Student, _check_input, _label_distributions


class LabelInputGNN(Student):
    """``gnn``, built for ``in_features + num_classes`` inputs, fed images with their known
    labels appended (zeros where a label is unknown).

    ``forward(x, labels, known)`` gives the labels of the rows where ``known`` is true (the
    training loop's split); ``forward(x)`` knows none (batch mode). Anchor mode gives every
    bank image its label (:meth:`build_anchor_bank` needs them) and no test image one.
    """

    inference_modes = ("batch", "anchor", "vote")
    reads_labels = True

    def __init__(self, gnn: GNNStudent, num_classes: int):
        super().__init__()
        if gnn.in_features <= num_classes:
            raise ValueError(f"the GNN takes {gnn.in_features} inputs: no room for the image "
                             f"and {num_classes} label columns")
        self.gnn, self.num_classes = gnn, num_classes
        self.in_features = gnn.in_features - num_classes

    @property
    def head(self) -> GraphHead:  # type: ignore[override]
        return self.gnn.head

    @property
    def s(self) -> int:
        return self.gnn.s

    @property
    def design(self):
        return self.gnn.design

    def with_labels(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                    known: torch.Tensor | None = None) -> torch.Tensor:
        """``[x, m * y]``: images ``[B, in_features]`` with their label columns; ``labels``
        are class indices ``[B]`` or distributions ``[B, classes]``, ``known`` a ``[B]`` bool
        mask (``None``: all known). Without ``labels`` the label columns are zeros."""
        _check_input(x, self.in_features)
        columns = x.new_zeros(x.shape[0], self.num_classes)
        if labels is not None:
            columns = _label_distributions(labels, x.shape[0], self.num_classes).to(x)
            if known is not None:
                if known.shape != (x.shape[0],):
                    raise ValueError(f"known must be a [{x.shape[0]}] mask, got "
                                     f"{tuple(known.shape)}")
                columns = columns * known.to(x).unsqueeze(1)
        return torch.cat([x, columns], dim=1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                known: torch.Tensor | None = None, graph=None, return_graph: bool = False):
        """Batch-mode logits of images ``x``, the rows where ``known`` is true carrying
        ``labels`` (:meth:`with_labels`)."""
        return self.gnn(self.with_labels(x, labels, known), graph=graph,
                        return_graph=return_graph)

    def message_passing_flops(self, x: torch.Tensor) -> float:
        return self.gnn.message_passing_flops(self.with_labels(x))

    @torch.no_grad()
    def build_anchor_bank(self, bank_x: torch.Tensor, chunk_size: int = BANK_CHUNK,
                          labels: torch.Tensor | None = None) -> AnchorBank:
        """The bank of anchor mode, every bank image carrying its label as input (so
        ``labels``, class indices or distributions, are required); they can also vote."""
        if labels is None:
            raise ValueError("a label-trick GNN's bank needs its images' labels: they are its "
                             "inputs (build_anchor_bank(bank_x, labels=...))")
        return self.gnn.build_anchor_bank(self.with_labels(bank_x, labels), chunk_size,
                                          labels=labels)

    @torch.no_grad()
    def predict_anchor(self, x: torch.Tensor, bank: AnchorBank, chunk_size: int = BANK_CHUNK,
                       label_weight: float = 0.0) -> torch.Tensor:
        """Anchor-mode logits; the test images carry no label (see :meth:`GNNStudent.
        predict_anchor` for ``label_weight``)."""
        return self.gnn.predict_anchor(self.with_labels(x), bank, chunk_size, label_weight)
