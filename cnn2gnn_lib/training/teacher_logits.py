"""A teacher's answers, computed once: its logits on a set of images, cached on disk.

:func:`cache_teacher_logits` computes a trained teacher's logits on a set of images once and
stores them under the artifacts folder, so the student phase never runs the CNN. The cache is
keyed by the teacher's name as it answers (:func:`teacher_name`: a flip-averaged teacher,
:func:`flip_averaged`, is another teacher) and by which images were asked
(:func:`dataset_fingerprint`). Chapter 6 of the book ("Distillation") uses them.
:func:`cache_view_logits` does the same for every view of a fixed view plan
(:class:`~cnn2gnn_lib.data.ViewPlan`): the answers patient distillation reads.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Callable

import torch

from .. import config, data
from ..teachers import FlipAveraged
from .checkpoints import RunResult, atomic_save
from .teacher import predict


def dataset_fingerprint(dataset: data.ImageDataset) -> str:
    """A short hash of which images (and labels) a dataset holds, for cache keys."""
    digest = hashlib.sha1()
    digest.update(f"{dataset.name}|{dataset.split}|{len(dataset)}".encode())
    digest.update(dataset.indices.numpy().tobytes())
    digest.update(dataset.targets.numpy().tobytes())
    return digest.hexdigest()[:12]


def flip_averaged(result: RunResult) -> RunResult:
    """``result`` with its model wrapped in :class:`~cnn2gnn_lib.teachers.FlipAveraged` (the
    checkpoint, configuration, history and recorded metrics stay those of the plain run)."""
    return dataclasses.replace(result, model=FlipAveraged(result.model))


def answering_name(run_name: str, flipped: bool) -> str:
    """The name of a teacher as it answers: its run's name, with ``-flip`` when its logits are
    flip-averaged, so caches and the students it distils never mix the two."""
    return run_name + ("-flip" if flipped else "")


def teacher_name(result: RunResult) -> str:
    """:func:`answering_name` of a trained (or loaded) teacher."""
    return answering_name(result.config.name(), isinstance(result.model, FlipAveraged))


def cache_teacher_logits(result: RunResult, dataset: data.ImageDataset,
                         out_dir: str | os.PathLike | None = None,
                         device: torch.device | str | None = None,
                         progress: bool = True) -> torch.Tensor:
    """Teacher logits ``[N, K]`` on ``dataset`` (no augmentation), computed once and cached.

    The cache file is keyed by the teacher's name (:func:`teacher_name`) and the dataset's
    fingerprint, so a different teacher or a different subset never reads another's logits.
    """
    path = _cache_path(result, dataset, out_dir)
    return _cached(path, (len(dataset), dataset.info.num_classes),
                   lambda: predict(result.model, dataset, device=device, progress=progress,
                                   desc="teacher logits"))


def _cache_path(result: RunResult, dataset: data.ImageDataset,
                out_dir: str | os.PathLike | None, suffix: str = "") -> Path:
    """Where the logits of the teacher ``result`` on ``dataset`` are cached."""
    folder = config.artifacts_dir(out_dir) / "logits"
    return folder / (f"{teacher_name(result)}-{dataset.split}-{dataset_fingerprint(dataset)}"
                     f"{suffix}.pt")


def _cached(path: Path, shape: tuple[int, ...], compute: Callable[[], torch.Tensor]
            ) -> torch.Tensor:
    """The tensor cached at ``path`` if it has ``shape``; else ``compute()``, saved there."""
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            if tuple(stored.shape) == shape:
                return stored
        except Exception:
            pass  # a damaged cache is recomputed below and overwritten
    logits = compute()
    atomic_save(logits, path)
    return logits


def cache_view_logits(result: RunResult, dataset: data.ImageDataset, plan: data.ViewPlan,
                      out_dir: str | os.PathLike | None = None,
                      device: torch.device | str | None = None,
                      progress: bool = True) -> torch.Tensor:
    """Teacher logits ``[K + 1, N, classes]`` on every view of ``plan`` (view 0: the images
    themselves), computed once, view by view, and cached in one file.

    Patient distillation (:class:`~cnn2gnn_lib.training.StudentConfig`, ``patient_views``)
    samples a view per image per epoch and reads the teacher's answer on that very view here,
    so the teacher never runs in the student's loop. The cache is keyed by the teacher's name,
    the images' fingerprint and the plan's draws (:meth:`ViewPlan.key`).
    """
    if plan.images != len(dataset):
        raise ValueError(f"the view plan was drawn for {plan.images} images, the dataset holds "
                         f"{len(dataset)}")

    def every_view() -> torch.Tensor:
        views = [cache_teacher_logits(result, dataset, out_dir, device, progress)]
        for view in range(1, plan.views + 1):
            views.append(predict(result.model, data.view_dataset(dataset, plan, view),
                                 device=device, progress=progress,
                                 desc=f"teacher logits, view {view}/{plan.views}"))
        return torch.stack(views)

    path = _cache_path(result, dataset, out_dir, f"-{plan.key()}")
    return _cached(path, (plan.views + 1, len(dataset), dataset.info.num_classes), every_view)
