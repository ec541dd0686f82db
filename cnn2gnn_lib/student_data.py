"""The student's data, built once per configuration: splits, flat features, teacher rows, banks.

A student configuration (:class:`cnn2gnn_lib.training.StudentConfig`) names a *pool* of training
images (the whole training split, or a balanced subset in fast mode), carves a validation split
from it with ``data_seed``, and may add ``augment_views`` fixed augmented copies of its training
part (consistent distillation) or a plan of ``patient_views`` views per image rendered when a
batch asks for them (patient distillation). :class:`StudentData` builds all of that once, as flat
standardised features, and is the one place that

* aligns cached teacher logits to the rows the student trains on (:meth:`StudentData.teacher_rows`),
* hands the training loop each batch, as one sampled view per image under a view plan
  (:meth:`StudentData.training_batch`),
* draws an anchor bank from the training part, never from validation or test
  (:meth:`StudentData.anchor_bank`: real images at random, or per-class k-means centres).

Chapters 5 and 6 of the book ("The GNN student", "Distillation") use it through the training
functions; the study (:mod:`cnn2gnn_lib.study`) keeps one per configuration's split.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from . import data
from .graph import pairwise_sq_dists

BANK_METHODS = ("random", "kmeans")
KMEANS_ITERATIONS = 20  # Lloyd rounds; the centres of a 10,000-anchor bank stop moving by then


@dataclass
class BankData:
    """The anchors of a bank: flat features and class labels; ``indices`` are the anchors'
    positions in the full training split (``None`` for k-means centres, which are not images)."""

    features: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)


def student_pool(dataset: str, train_per_class: int | None, data_seed: int = 0,
                 root: str | os.PathLike | None = None) -> tuple[data.ImageDataset, int]:
    """The training images students draw from (``train_per_class`` per class, or all) and the
    size of the whole training split."""
    full = data.load_dataset(dataset, "train", root)
    return data.balanced_subset(full, train_per_class, data_seed), len(full)


@dataclass
class StudentData:
    """Pool, training and validation images of a student configuration, built once.

    ``train`` is what the student fits: the training part followed by its augmented views, as
    flat features ``x_train`` and labels ``y_train`` (its first rows are the training part);
    ``x_val``, ``y_val`` the validation split. ``train_images`` is the training part before
    augmentation (where banks are drawn). ``view_plan`` (patient distillation) fixes views of
    the training part that :meth:`training_batch` renders, one per image and step.
    """

    pool: data.ImageDataset
    train_images: data.ImageDataset
    val: data.ImageDataset
    train: data.ImageDataset
    full_train_size: int
    view_plan: data.ViewPlan | None = None
    x_train: torch.Tensor = field(init=False, repr=False)
    x_val: torch.Tensor = field(init=False, repr=False)
    _banks: dict[Any, BankData] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        self.x_train = data.flat_features(self.train)
        self.x_val = data.flat_features(self.val)

    @classmethod
    def from_config(cls, cfg, root: str | os.PathLike | None = None) -> "StudentData":
        """The data of ``cfg`` (any object with ``dataset``, ``train_per_class``,
        ``val_per_class``, ``data_seed`` and ``augment_views``; ``patient_views`` and ``mixup``
        where it has them). The views depend on ``data_seed`` only, so every seed of a
        configuration reads the same cached teacher logits."""
        pool, full_size = student_pool(cfg.dataset, cfg.train_per_class, cfg.data_seed, root)
        train, val = data.train_val_split(pool, cfg.val_per_class, cfg.data_seed)
        views = data.augmented_copies(train, cfg.augment_views, cfg.data_seed)
        patient = getattr(cfg, "patient_views", 0)
        plan = (data.draw_views(len(train), patient, train.info, cfg.data_seed,
                                getattr(cfg, "mixup", 0.0)) if patient else None)
        return cls(pool, train, val, views, full_size, plan)

    y_train = property(lambda self: self.train.targets)
    y_val = property(lambda self: self.val.targets)
    info = property(lambda self: self.pool.info)
    in_features = property(lambda self: self.x_train.shape[1])
    num_classes = property(lambda self: self.pool.info.num_classes)

    @property
    def augmented(self) -> bool:
        return len(self.train) != len(self.train_images)

    def teacher_rows(self, logits: torch.Tensor | None) -> torch.Tensor:
        """The teacher's logits of the rows the student trains on, in their order.

        Accepts logits cached on the whole training split or on the pool; with augmented views,
        only logits cached on exactly :attr:`train` (the teacher saw the same views).
        """
        classes = self.num_classes
        got = None if logits is None else tuple(logits.shape)
        if self.view_plan is not None:
            expected = (self.view_plan.views + 1, len(self.train), classes)
            if got != expected:
                raise ValueError(f"patient distillation needs the teacher's logits on every view "
                                 f"of the student's view plan (training.cache_view_logits), "
                                 f"shape {expected}; got {got}")
            return logits
        if self.augmented:
            if got != (len(self.train), classes):
                raise ValueError(f"a student trained on augmented views needs the teacher's "
                                 f"logits on its augmented training set (StudentData.train), "
                                 f"shape {(len(self.train), classes)}; got {got}")
            return logits
        shapes = {(self.full_train_size, classes), (len(self.pool), classes)}
        if got not in shapes:
            raise ValueError(f"distillation needs the teacher's logits on the whole training "
                             f"split or on the student's pool of training images, shape one of "
                             f"{sorted(shapes)}; got {got}")
        return logits[self._rows_of(self.train_images.indices, len(logits))]

    def training_batch(self, rows: torch.Tensor, teacher: torch.Tensor | None,
                       generator: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Features, labels and teacher logits (from :meth:`teacher_rows`, or ``None``) of the
        training rows ``rows``. Under a view plan each row is one of its views, drawn from
        ``generator`` (view 0, the image itself, among them), with the teacher's answer on that
        very view."""
        labels = self.y_train[rows]
        if self.view_plan is None:
            return self.x_train[rows], labels, None if teacher is None else teacher[rows]
        view_ids = torch.randint(0, self.view_plan.views + 1, (len(rows),), generator=generator)
        images = data.render_views(self.train.images, self.view_plan, rows, view_ids)
        answers = None if teacher is None else teacher[view_ids, rows]
        return data.flatten_images(images, self.info), labels, answers

    def _rows_of(self, indices: torch.Tensor, cached_rows: int) -> torch.Tensor:
        """Where images (positions in the full split) sit in logits cached on the full split
        or on the pool (whose indices are sorted)."""
        if cached_rows == self.full_train_size:
            return indices
        return torch.searchsorted(self.pool.indices, indices)

    def anchor_bank(self, size: int, method: str = "random", seed: int = 0) -> BankData:
        """An anchor bank of about ``size`` anchors, equally many per class, drawn from the
        training part: real images at random, or ``"kmeans"``: per class, the centres of a
        k-means run, which cover each class's modes. Built once per (size, method, seed)."""
        if method not in BANK_METHODS:
            raise ValueError(f"bank method must be one of {BANK_METHODS}, got {method!r}")
        per_class = max(1, size // self.num_classes)
        key = (method, per_class, seed)
        if key not in self._banks:
            if method == "kmeans":
                self._banks[key] = kmeans_bank(self.x_train[:len(self.train_images)],
                                               self.train_images.targets, per_class, seed)
            else:
                bank = data.balanced_subset(self.train_images, per_class, seed=seed)
                self._banks[key] = BankData(data.flat_features(bank), bank.targets,
                                            bank.indices)
        return self._banks[key]

    def teacher_probs(self, bank: BankData, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The teacher's probabilities for the images of a random bank (``teacher_logits``
        cached on the pool or on the full training split)."""
        if bank.indices is None:
            raise ValueError("a k-means bank holds centres, not images: the teacher has no "
                             "answer for them")
        return teacher_logits[self._rows_of(bank.indices, len(teacher_logits))].softmax(1)


def kmeans_bank(features: torch.Tensor, labels: torch.Tensor, per_class: int, seed: int = 0,
                iterations: int = KMEANS_ITERATIONS) -> BankData:
    """``per_class`` k-means centres (Lloyd) inside each class, started from real rows drawn at
    random, so the anchors cover every class's modes instead of sampling its densest part."""
    if features.shape[0] != labels.shape[0]:
        raise ValueError(f"{features.shape[0]} feature rows but {labels.shape[0]} labels")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    generator = torch.Generator().manual_seed(seed)
    chosen_x, chosen_y = [], []
    for label in torch.unique(labels).tolist():
        rows = features[labels == label]
        if len(rows) < per_class:
            raise ValueError(f"class {label} has {len(rows)} rows, fewer than the {per_class} "
                             "anchors asked of it")
        centres = rows[torch.randperm(len(rows), generator=generator)[:per_class]].clone()
        for _ in range(iterations):
            assign = pairwise_sq_dists(rows, centres).argmin(1)
            sums = torch.zeros_like(centres).index_add_(0, assign, rows)
            counts = torch.bincount(assign, minlength=per_class).unsqueeze(1)
            # a centre that lost all its points stays where it was
            centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        chosen_x.append(centres)
        chosen_y.append(torch.full((per_class,), label, dtype=torch.long))
    return BankData(torch.cat(chosen_x), torch.cat(chosen_y))
