"""Inference modes: the named ways the study asks a student for its predictions.

A mode is a row of the table :data:`MODES`, never a string to parse:

* ``batch``: test batches formed by the predictor's :class:`~cnn2gnn_lib.protocols.Protocol`
  (shuffled by default), each building its own graph (every student);
* ``anchor``: each image against a fixed bank of training images (a random, balanced draw);
* ``anchor-kmeans``: the same against a bank of per-class k-means centres;
* ``anchor+labels:b`` / ``anchor+teacher-labels:b``: anchor mode in which the anchors' true
  labels (or the teacher's probabilities for them) vote with weight ``b``
  (:meth:`cnn2gnn_lib.students.GNNStudent.predict_anchor`). The MLP has these votes too,
  its neighbours found in its hidden space by the graph rule of the GNN it is compared with
  (``vote_head`` of :class:`Predictor`), so both students can get the same help.

Chapter 8 of the book ("Results") compares students across these modes; every accuracy comes
from :func:`cnn2gnn_lib.metrics.accuracy`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import protocols
from ..graph.heads import GraphHead
from ..metrics import accuracy
from ..protocols import Protocol
from ..student_data import StudentData
from ..students import AnchorBank, Student

LABEL_WEIGHTS = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class InferenceMode:
    """How to predict: ``bank`` None is batch mode, else anchor mode with a ``"random"`` or
    ``"kmeans"`` bank; ``labels`` (``"true"`` or ``"teacher"``) vote with ``label_weight``."""

    name: str
    bank: str | None = None
    labels: str | None = None
    label_weight: float = 0.0

    @property
    def kind(self) -> str:
        """The student capability the mode needs (:attr:`Student.inference_modes`)."""
        if self.bank is None:
            return "batch"
        return "vote" if self.labels is not None and self.label_weight > 0 else "anchor"


def label_vote(weight: float, teacher: bool = False) -> InferenceMode:
    """Anchor mode with the anchors' true labels (or the teacher's probabilities) voting."""
    if teacher:
        return InferenceMode(f"anchor+teacher-labels:{weight:g}", "random", "teacher", weight)
    return InferenceMode(f"anchor+labels:{weight:g}", "random", "true", weight)


BATCH = InferenceMode("batch")
ANCHOR = InferenceMode("anchor", bank="random")
ANCHOR_KMEANS = InferenceMode("anchor-kmeans", bank="kmeans")
MODES: dict[str, InferenceMode] = {mode.name: mode for mode in (
    BATCH, ANCHOR, *(label_vote(b) for b in LABEL_WEIGHTS),
    *(label_vote(b, teacher=True) for b in LABEL_WEIGHTS), ANCHOR_KMEANS)}


def modes_of(student: Student) -> list[InferenceMode]:
    """Every mode of :data:`MODES` that ``student`` can run, in table order."""
    return [mode for mode in MODES.values() if mode.kind in student.inference_modes]


class Predictor:
    """Predictions of one student in any mode; each anchor bank is embedded once.

    ``data`` supplies the banks (drawn from its training part), ``bank_size`` their size, and
    ``teacher_logits`` (cached on the pool or the whole training split) the teacher's labels.
    ``vote_head`` gives a student without a graph (the MLP) its label votes: the graph head whose
    rule links an image to its bank neighbours (that of the GNN it is compared with).
    ``protocol`` forms the test batches of batch mode (default: shuffled, of ``batch_size``).
    """

    def __init__(self, student: Student, data: StudentData, bank_size: int, batch_size: int,
                 teacher_logits: torch.Tensor | None = None, vote_head: GraphHead | None = None,
                 protocol: Protocol | None = None):
        self.student = student.to("cpu").eval()
        self.data, self.bank_size, self.batch_size = data, bank_size, batch_size
        self.protocol = protocol or Protocol(batch_size=batch_size)
        self.teacher_logits = teacher_logits
        self.vote_head = vote_head
        self._banks: dict[tuple[str, str | None], AnchorBank] = {}

    def modes(self) -> list[InferenceMode]:
        """The modes this predictor can run: the student's, less the label votes of a student
        without a graph when no ``vote_head`` was given."""
        votes = self.student.head is not None or self.vote_head is not None
        return [mode for mode in modes_of(self.student) if votes or mode.kind != "vote"]

    def bank(self, method: str = "random", labels: str | None = None) -> AnchorBank:
        """The student's anchor bank of ``method``, with ``labels`` to vote (or none)."""
        key = (method, labels)
        if key not in self._banks:
            anchors = self.data.anchor_bank(self.bank_size, method, seed=0)
            values = {None: None, "true": anchors.labels}.get(labels)
            if values is None and self.student.reads_labels:  # the label trick's inputs
                values = anchors.labels
            if labels == "teacher":
                if self.teacher_logits is None:
                    raise ValueError("teacher-label modes need the teacher's logits")
                values = self.data.teacher_probs(anchors, self.teacher_logits)
            if self.student.head is None:
                if self.vote_head is None or values is None:
                    raise ValueError(f"{type(self.student).__name__} has no graph: its bank "
                                     "serves label votes only, and needs labels and a "
                                     "vote_head")
                self._banks[key] = self.student.build_anchor_bank(anchors.features,
                                                                  self.vote_head, values)
            else:
                self._banks[key] = self.student.build_anchor_bank(anchors.features,
                                                                  labels=values)
        return self._banks[key]

    def describe(self, mode: InferenceMode) -> str:
        """The protocol behind an accuracy of ``mode``, in words (stored beside it)."""
        if mode.bank is None:
            return self.protocol.describe()
        size = len(self.data.anchor_bank(self.bank_size, mode.bank, seed=0))
        text = protocols.describe_anchor(size, mode.bank)
        if mode.kind == "vote":
            source = "true labels" if mode.labels == "true" else "teacher's probabilities"
            text += f"; the bank's {source} vote with weight {mode.label_weight:g}"
        return text

    def logits(self, mode: InferenceMode, x: torch.Tensor, y: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Logits of ``mode`` (``y``: the labels, which class-sorted and Dirichlet batches
        need)."""
        name = type(self.student).__name__
        if mode.kind not in self.student.inference_modes:
            raise ValueError(f"{name} has no {mode.name!r} mode")
        if mode.kind == "vote" and self.student.head is None and self.vote_head is None:
            raise ValueError(f"{name} has no graph: its label votes ({mode.name!r}) need a "
                             "vote_head")
        if mode.bank is None:
            return protocols.predict(self.student, x, y, self.protocol)
        bank = self.bank(mode.bank, mode.labels if mode.label_weight > 0 else None)
        return self.student.predict_anchor(x, bank, label_weight=mode.label_weight)

    def accuracies(self, x: torch.Tensor, y: torch.Tensor,
                   modes: list[InferenceMode] | None = None) -> dict[str, float]:
        """``{mode name: accuracy}`` over ``modes`` (default: every mode the student has)."""
        return {mode.name: accuracy(self.logits(mode, x, y), y)
                for mode in (modes or self.modes())}

    def protocols(self, modes: list[InferenceMode] | None = None) -> dict[str, str]:
        """``{mode name: its protocol in words}``, to store beside :meth:`accuracies`."""
        return {mode.name: self.describe(mode) for mode in (modes or self.modes())}
