"""What defines a student run: :class:`StudentConfig`, its options, their checks and its name.

A configuration names the student (MLP or GNN, with the graph options of
:class:`~cnn2gnn_lib.students.GraphDesign`), its data, its loss terms and its training options;
its key (a hash of the options that differ from their defaults) names the run's checkpoints, so
a finished run is reused only by exactly the same configuration. The loop that trains it is in
:mod:`cnn2gnn_lib.training.student`; chapters 5 and 6 of the book ("The GNN student",
"Distillation") build students from it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .. import config
from ..data import dataset_info
from ..distill import LossTerm, distillation_terms
from ..students import GraphDesign, GNNStudent, LabelInputGNN, MLPStudent, Student
from .teacher import settings_key

STUDENT_KINDS = ("mlp", "gnn-learned", "gnn-knn")
VALIDATION_MODES = (None, "batch", "anchor")


@dataclass(frozen=True)
class StudentConfig:
    """Everything that defines a student run.

    ``kind``: ``"mlp"``, ``"gnn-learned"`` or ``"gnn-knn"``. ``alpha = 0`` trains without the
    teacher; ``alpha > 0`` distils from the cached logits of the teacher named by ``teacher``
    (a :meth:`TeacherConfig.name`). The validation split (``val_per_class`` images per class)
    is carved from the training split with ``data_seed``, the same for every ``seed``.

    Graph options (GNN kinds only) are those of :class:`cnn2gnn_lib.students.GraphDesign`
    (``s``, ``graph_layers``, ``graph_space``, ``self_weight``, ``self_loop_weight``);
    training options: ``relation_weight`` (relation distillation), ``s_start`` (a
    :class:`SparsitySchedule`), ``batch_classes`` (class-composed batches) and
    ``augment_views`` (that many fixed augmented copies of every training image, with the
    teacher's logits cached on the same views: consistent distillation), ``patient_views``
    (patient distillation: that many fixed views of every image, crops and flips, blended with
    a partner image when ``mixup`` > 0, the teacher's logits cached on each; every epoch the
    student sees one view per image, so an epoch costs what a plain one does) and, for a GNN,
    ``label_trick`` (the share of each training batch that carries its label as input, the loss
    taken on the rest; the student is then a :class:`~cnn2gnn_lib.students.LabelInputGNN`).
    ``validation`` says how an epoch is judged: ``"batch"`` (batch mode) or, for a GNN,
    ``"anchor"`` (each validation image alone against a bank of training images, carrying their
    labels for a label-trick student); ``None``: batch, or anchor for a label-trick student.
    Options at their defaults are left out of :meth:`to_dict`, so adding an option never
    renames earlier runs.
    """

    dataset: str = "fashion-mnist"
    kind: str = "gnn-learned"
    hidden: int = 512
    s: int = 10
    graph_space: str = "shared"
    dropout: float = 0.5
    self_loop_weight: float = 1.0
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 5e-4
    alpha: float = 0.0
    temperature: float = 4.0
    teacher: str | None = None
    train_per_class: int | None = None
    # 500 images per class (5,000 of 60,000) measure validation accuracy to about +-0.4 points
    val_per_class: int = 500
    data_seed: int = 0
    seed: int = 0
    graph_layers: str = "both"
    self_weight: float | str | None = None
    relation_weight: float = 0.0
    s_start: int | None = None
    batch_classes: int | None = None
    augment_views: int = 0
    patient_views: int = 0
    mixup: float = 0.0
    label_trick: float = 0.0
    validation: str | None = None

    def __post_init__(self):
        if self.kind not in STUDENT_KINDS:
            raise ValueError(f"unknown student kind {self.kind!r}; use mlp, gnn-learned or gnn-knn")
        changed = sorted(name for name, default in _GRAPH_OPTIONS.items()
                         if getattr(self, name) != default)
        if self.kind == "mlp" and changed:
            raise ValueError(f"options {changed} apply to graph students only")
        if self.relation_weight > 0 and not self.teacher:
            raise ValueError("relation_weight > 0 (relation distillation) needs a teacher")
        if self.augment_views < 0:
            raise ValueError(f"augment_views must be >= 0, got {self.augment_views}")
        self._check_patient()
        self._check_label_trick()
        self._check_validation()
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.alpha > 0 and not self.teacher:
            raise ValueError("alpha > 0 (distillation) needs a teacher")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.kind != "mlp":
            self.design()  # the graph options are validated once, by GraphDesign
            if self.relation_weight > 0 and self.kind != "gnn-learned":
                raise ValueError("relation_weight needs a learned graph (a fixed kNN graph has "
                                 "no parameters to teach)")
            if self.s_start is not None and not 1 <= self.s_start <= self.s:
                raise ValueError(f"s_start must be in [1, s={self.s}], got {self.s_start}")
            if self.s_start is not None and self.s_start < self.s and self.epochs < 2:
                raise ValueError("an s schedule (s_start < s) needs at least 2 epochs: only "
                                 "epochs at the final s may be selected")
        if self.batch_classes is not None and not (
                1 <= self.batch_classes <= dataset_info(self.dataset).num_classes):
            raise ValueError(f"batch_classes must be in [1, "
                             f"{dataset_info(self.dataset).num_classes}], got "
                             f"{self.batch_classes}")

    def _check_validation(self) -> None:
        if self.validation not in VALIDATION_MODES:
            raise ValueError(f"validation must be one of {VALIDATION_MODES}, got "
                             f"{self.validation!r}")
        if self.validation == "anchor" and self.kind == "mlp":
            raise ValueError("an MLP has no anchor mode: validate it in batch mode")

    def _check_label_trick(self) -> None:
        if not 0 <= self.label_trick < 1:
            raise ValueError(f"label_trick is the share of a batch that carries its label, in "
                             f"[0, 1) (the loss needs the rest); got {self.label_trick}")
        if self.label_trick > 0 and self.relation_weight > 0:
            raise ValueError("relation distillation and the label trick do not combine: the "
                             "relation loss reads the whole batch graph, the label trick's loss "
                             "only the unlabelled nodes")

    def _check_patient(self) -> None:
        if self.patient_views < 0:
            raise ValueError(f"patient_views must be >= 0, got {self.patient_views}")
        if self.mixup < 0:
            raise ValueError(f"mixup must be >= 0, got {self.mixup}")
        if self.patient_views == 0:
            if self.mixup > 0:
                raise ValueError("mixup blends the views of patient distillation: set "
                                 "patient_views > 0")
            return
        if self.augment_views:
            raise ValueError("augment_views (copies seen every epoch) and patient_views (one view "
                             "per image and epoch) are two ways to use views: choose one")
        if self.alpha == 0:
            raise ValueError("patient_views > 0 (patient distillation) needs a teacher: alpha > 0")
        if self.mixup > 0 and self.alpha < 1:
            raise ValueError("a blended view has no single label: mixup > 0 needs alpha = 1 "
                             "(the student learns from the teacher's answers alone)")

    @classmethod
    def for_budget(cls, fast: bool | None = None, **overrides: Any) -> "StudentConfig":
        """The configuration of the current mode (:func:`config.budget`), with overrides."""
        budget = config.budget(fast)
        values: dict[str, Any] = dict(epochs=budget.student_epochs,
                                      train_per_class=budget.train_per_class)
        if budget.fast:
            values["val_per_class"] = 50  # fast mode's 300 images per class keep 250 to train
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        return {k: v for k, v in values.items()
                if k not in _OPTION_DEFAULTS or v != _OPTION_DEFAULTS[k]}

    def key(self) -> str:
        return settings_key(self.to_dict())

    def name(self) -> str:
        kd = f"-kd{self.alpha:g}T{self.temperature:g}" if self.alpha > 0 else ""
        return f"{dataset_info(self.dataset).name}-{self.kind}{kd}-{self.key()}"

    def design(self) -> GraphDesign:
        """The :class:`GraphDesign` of a GNN configuration."""
        if self.kind == "mlp":
            raise ValueError("an MLP student has no graph design")
        return GraphDesign(graph=self.kind[4:], s=self.s, graph_layers=self.graph_layers,
                           graph_space=self.graph_space, self_weight=self.self_weight,
                           self_loop_weight=self.self_loop_weight)

    def build(self, in_features: int, num_classes: int) -> Student:
        """The untrained student of this configuration."""
        if self.kind == "mlp":
            return MLPStudent(in_features, self.hidden, num_classes, self.dropout)
        if self.label_trick > 0:  # the label columns are inputs too
            return LabelInputGNN(GNNStudent(in_features + num_classes, self.hidden, num_classes,
                                            self.design(), dropout=self.dropout), num_classes)
        return GNNStudent(in_features, self.hidden, num_classes, self.design(),
                          dropout=self.dropout)

    def loss_terms(self) -> list[LossTerm]:
        return distillation_terms(self.alpha, self.temperature, self.relation_weight)

    @property
    def validation_mode(self) -> str:
        """How an epoch is judged on validation: ``"batch"`` or ``"anchor"``."""
        if self.validation is not None:
            return self.validation
        return "anchor" if self.label_trick > 0 else "batch"

    @property
    def needs_teacher(self) -> bool:
        return self.alpha > 0 or self.relation_weight > 0


def _defaults(*names: str) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(StudentConfig) if f.name in names}


# options added after the first study, with the values earlier runs implicitly had
_OPTION_DEFAULTS = _defaults("graph_layers", "self_weight", "relation_weight", "s_start",
                             "batch_classes", "augment_views", "patient_views", "mixup",
                             "label_trick", "validation")
# options that only a graph student can use
_GRAPH_OPTIONS = _defaults("graph_layers", "graph_space", "self_weight", "self_loop_weight",
                           "relation_weight", "s_start", "label_trick")
