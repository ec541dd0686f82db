"""Evaluation protocols: how the test images of a batch-mode prediction are put into batches.

In batch mode a GNN student builds one graph per test batch, so an image's prediction depends
on the images it is batched with: a batch-mode accuracy is a property of the model *and* of the
batching. A :class:`Protocol` names the batching explicitly:

* ``shuffled``: a seeded random order cut into consecutive batches (the default everywhere);
* ``dataset``: the order the test set comes in. When that order is sorted by class (as in a
  class-folder dataset read folder by folder) every batch is nearly pure, the graph links
  images of the same class, and the accuracy is inflated: :func:`plan_batches` warns
  (:class:`ClassSortedWarning`);
* ``class-sorted``: sorted by class on purpose, the most favourable batching there is;
* ``dirichlet``: every batch has class proportions drawn from a symmetric Dirichlet
  distribution with concentration ``a`` (the realistic transductive setting of Veilleux et al.,
  NeurIPS 2021): small ``a`` gives batches dominated by a few classes, large ``a`` balanced
  ones.

All of these are *transductive*: the test images of a batch see each other. ``context`` > 0
joins every test batch with that many labelled training images (still transductive, labelled
as such). The *inductive* protocol, each image alone against a fixed bank of training images,
is anchor mode (:meth:`cnn2gnn_lib.students.GNNStudent.predict_anchor`); an MLP's prediction is
the same under every protocol. The book's chapter "Protocols: what a batch-mode number measures"
explains them with measurements.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .metrics import accuracy
from .students import Student, batch_slices, evaluating
from .students.inference import pooled_homophily

ORDERS = ("shuffled", "dataset", "class-sorted", "dirichlet")
# neighbouring test images share a class this often before the order counts as class-sorted
SORTED_RUN_FRACTION = 0.5


class ClassSortedWarning(UserWarning):
    """Batch-mode evaluation in a test order that is sorted by class (inflated accuracy)."""


@dataclass(frozen=True)
class Protocol:
    """How test batches are formed: ``order`` (one of :data:`ORDERS`), ``batch_size``, the
    ``seed`` of any random draw, ``concentration`` (the Dirichlet ``a``, for ``"dirichlet"``
    only) and ``context``: labelled training images joined to every test batch."""

    order: str = "shuffled"
    batch_size: int = 256
    seed: int = 0
    concentration: float | None = None
    context: int = 0

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"unknown test order {self.order!r}; choose one of {ORDERS}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if (self.order == "dirichlet") != (self.concentration is not None):
            raise ValueError("a Dirichlet concentration a is given with order='dirichlet' and "
                             f"only then (order={self.order!r}, a={self.concentration})")
        if self.concentration is not None and not self.concentration > 0:
            raise ValueError(f"the Dirichlet concentration must be > 0, got {self.concentration}")
        if self.context < 0:
            raise ValueError(f"context must be >= 0 training images, got {self.context}")

    @property
    def name(self) -> str:
        """A short name: ``shuffled``, ``class-sorted``, ``dirichlet(0.5)``, ``+context 256``."""
        name = f"dirichlet({self.concentration:g})" if self.order == "dirichlet" else self.order
        return name + (f"+context {self.context}" if self.context else "")

    def describe(self) -> str:
        """What a reader needs to know next to an accuracy measured under this protocol."""
        if self.order == "dirichlet":
            what = (f"test batches with Dirichlet(a={self.concentration:g}) class proportions "
                    f"(seed {self.seed})")
        else:
            what = {"shuffled": f"shuffled test batches (seed {self.seed})",
                    "dataset": "test batches in the dataset's own order",
                    "class-sorted": "test batches sorted by class"}[self.order]
        text = f"{what} of {self.batch_size}"
        if self.context:
            text += f", each joined with {self.context} labelled training images"
        return text + " (transductive)"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "Protocol":
        return dataclasses.replace(self, **changes)


def dirichlet(a: float, batch_size: int = 256, seed: int = 0) -> Protocol:
    """The ``dirichlet`` protocol with concentration ``a``."""
    return Protocol("dirichlet", batch_size, seed, concentration=float(a))


def describe_anchor(bank_size: int, bank: str = "random") -> str:
    """How an anchor-mode accuracy is described (the inductive protocol)."""
    kind = "per-class k-means centres" if bank == "kmeans" else "training images"
    return f"each test image alone against a fixed bank of {bank_size} {kind} (inductive)"


# --------------------------------------------------------------------------------------------
# Is an order sorted by class?


def neighbour_agreement(labels: torch.Tensor) -> float:
    """How often two neighbouring items of ``labels`` share a class (1.0 when sorted)."""
    if len(labels) < 2:
        return 0.0
    return (labels[1:] == labels[:-1]).float().mean().item()


def chance_agreement(labels: torch.Tensor) -> float:
    """The same fraction expected of a random order: the sum of squared class shares."""
    shares = torch.bincount(labels).float() / max(len(labels), 1)
    return float((shares ** 2).sum())


def looks_class_sorted(labels: torch.Tensor) -> bool:
    """Whether neighbouring items share a class far more often than chance would have them."""
    agreement = neighbour_agreement(labels)
    return agreement >= SORTED_RUN_FRACTION and agreement > 2 * chance_agreement(labels)


def _warn_if_sorted(labels: torch.Tensor | None) -> None:
    if labels is None or not looks_class_sorted(labels):
        return
    warnings.warn(
        f"the test set's own order is sorted by class: {neighbour_agreement(labels):.0%} of "
        f"neighbouring images share a class, {chance_agreement(labels):.0%} would by chance. "
        "Batches in this order are nearly pure, so a graph student's batch-mode accuracy is "
        "inflated; use Protocol(order='shuffled') (the default) or anchor mode",
        ClassSortedWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------
# Batches


def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total``, as close to ``shares * total`` as rounding allows."""
    exact = shares * total
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:total - counts.sum()]] += 1
    return counts


def dirichlet_batches(labels: torch.Tensor, batch_size: int, a: float, seed: int = 0
                      ) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    """Split every index of ``labels`` into batches whose class proportions are drawn from a
    symmetric Dirichlet(``a``); returns the batches and the drawn proportions.

    Each batch takes ``round(p_c * batch_size)`` images of class ``c`` (largest-remainder
    rounding). When a class runs out, the missing places go to the classes with images left,
    most probable first: only the last batches stray from their draws.
    """
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    classes = int(labels.max()) + 1 if len(labels) else 0
    pools = []
    for c in range(classes):
        members = (labels == c).nonzero().squeeze(1)
        pools.append(members[torch.randperm(len(members), generator=generator)])
    left = np.array([len(pool) for pool in pools])
    used = np.zeros(classes, dtype=int)
    batches, draws = [], []
    while left.sum() > 0:
        size = int(min(batch_size, left.sum()))
        shares = rng.dirichlet(np.full(classes, a))
        counts = np.minimum(_largest_remainder(shares, size), left)
        for c in np.argsort(-shares, kind="stable"):
            counts[c] += min(size - counts.sum(), left[c] - counts[c])
        batches.append(torch.cat([pools[c][used[c]:used[c] + counts[c]]
                                  for c in range(classes)]))
        used, left = used + counts, left - counts
        draws.append(shares)
    return batches, draws


def plan_batches(labels: torch.Tensor | None, protocol: Protocol, n: int | None = None,
                 minimum: int = 1) -> list[torch.Tensor]:
    """The test batches of ``protocol``: index tensors that cover ``0..n-1`` once each.

    ``labels`` are needed to sort by class or to draw class proportions, and to check
    whether the dataset's own order is sorted by class (:class:`ClassSortedWarning`). A last
    batch smaller than ``minimum`` is merged into the one before it.
    """
    if n is None and labels is not None:
        n = len(labels)
    if n is None:
        raise ValueError("plan_batches needs the labels or the number of test images n")
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} test images")
    if protocol.order in ("class-sorted", "dirichlet") and labels is None:
        raise ValueError(f"the {protocol.order!r} protocol needs the test labels")
    if protocol.order == "dirichlet":
        batches, _ = dirichlet_batches(labels, protocol.batch_size, protocol.concentration,
                                       protocol.seed)
        if len(batches) > 1 and len(batches[-1]) < minimum:
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches
    if protocol.order == "shuffled":
        order = torch.randperm(n, generator=torch.Generator().manual_seed(protocol.seed))
    elif protocol.order == "class-sorted":
        order = torch.sort(labels, stable=True).indices
    else:
        _warn_if_sorted(labels)
        order = torch.arange(n)
    return [order[part] for part in batch_slices(n, protocol.batch_size, minimum)]


def _context_draws(protocol: Protocol, context: torch.Tensor | None, batches: int
                   ) -> list[torch.Tensor | None]:
    if not protocol.context:
        return [None] * batches
    if context is None or len(context) < protocol.context:
        have = 0 if context is None else len(context)
        raise ValueError(f"the protocol joins {protocol.context} labelled training images to "
                         f"every batch, but {have} were given as context")
    generator = torch.Generator().manual_seed(protocol.seed + 1)
    return [context[torch.randperm(len(context), generator=generator)[:protocol.context]]
            for _ in range(batches)]


@torch.no_grad()
def predict(student: Student, features: torch.Tensor, labels: torch.Tensor | None = None,
            protocol: Protocol = Protocol(), context: torch.Tensor | None = None
            ) -> torch.Tensor:
    """Batch-mode logits of ``student`` on every test image under ``protocol``, returned in
    the order of ``features`` (row ``i`` is image ``i``, however the batches were formed).

    ``context``: the training features from which ``protocol.context`` images are drawn for
    every batch (their predictions are dropped).
    """
    batches = plan_batches(labels, protocol, len(features), student.min_batch)
    extras = _context_draws(protocol, context, len(batches))
    out: torch.Tensor | None = None
    with evaluating(student):
        for rows, extra in zip(batches, extras):
            x = features[rows] if extra is None else torch.cat([features[rows], extra])
            logits = student(x)[:len(rows)]
            if out is None:
                out = logits.new_empty(len(features), logits.shape[1])
            out[rows.to(out.device)] = logits
    return out if out is not None else torch.empty(0, 0)


def batch_homophily(student: Student, features: torch.Tensor, labels: torch.Tensor,
                    protocol: Protocol = Protocol()) -> float:
    """Edge homophily of the student's batch-mode graphs under ``protocol`` (the graph of its
    last layer that passes messages, without self-loops, weighted, pooled over batches)."""
    if protocol.context:
        raise ValueError("batch_homophily measures test batches alone (context=0)")
    return pooled_homophily(student, features, labels,
                            plan_batches(labels, protocol, minimum=student.min_batch))


# --------------------------------------------------------------------------------------------
# Many protocols at once


def protocol_grid(batch_sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1024),
                  concentrations: tuple[float, ...] = (0.5, 2.0, 10.0), seed: int = 0,
                  context: bool = True) -> list[Protocol]:
    """Shuffled, class-sorted and Dirichlet(``a``) batches for every ``a``, at every batch size,
    then (``context``) shuffled batches each joined with as many training images as they hold."""
    kinds = [Protocol(seed=seed), Protocol("class-sorted", seed=seed),
             *(dirichlet(a, seed=seed) for a in concentrations)]
    grid = [kind.replace(batch_size=size) for kind in kinds for size in batch_sizes]
    if context:
        grid += [Protocol(batch_size=size, seed=seed, context=size) for size in batch_sizes]
    return grid


def row_family(row: dict[str, Any]) -> str:
    """The protocol of an :func:`evaluate_grid` row without its batch size: the line of a
    plot or the row of a table that gathers all its batch sizes."""
    return f"{row['order']} + as many training images" if row["context"] else row["protocol"]


def evaluate_grid(student: Student, features: torch.Tensor, labels: torch.Tensor,
                  grid: list[Protocol], context: torch.Tensor | None = None,
                  progress: bool = False) -> list[dict[str, Any]]:
    """Accuracy of ``student`` under every protocol of ``grid``, one row each (with the batch
    graphs' edge homophily for a graph student, where no training images were joined)."""
    from .progress import tqdm

    rows = []
    for rule in tqdm(grid, desc="protocols", leave=False, disable=not progress):
        logits = predict(student, features, labels, rule, context=context)
        row = {"protocol": rule.name, "order": rule.order, "batch_size": rule.batch_size,
               "concentration": rule.concentration, "context": rule.context,
               "accuracy": accuracy(logits, labels),
               "description": rule.describe()}
        if student.head is not None and not rule.context:
            row["homophily"] = batch_homophily(student, features, labels, rule)
        rows.append(row)
    return rows
