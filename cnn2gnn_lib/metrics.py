"""Accuracy, computed in one place for the whole library.

Every accuracy the book reports (teachers, students, every inference mode of the study) comes
from :func:`accuracy`, so they are all the same statistic: the share of images whose highest
logit (or given prediction) is the true class.
"""
from __future__ import annotations

import torch


def _predictions(scores: torch.Tensor) -> torch.Tensor:
    return scores.argmax(1) if scores.dim() == 2 else scores


def correct(scores: torch.Tensor, labels: torch.Tensor) -> int:
    """How many rows of ``scores`` (logits ``[N, K]`` or predictions ``[N]``) are right."""
    return int((_predictions(scores) == labels).sum().item())


def accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of rows of ``scores`` (logits ``[N, K]`` or predictions ``[N]``) that are
    right."""
    predictions = _predictions(scores)
    if predictions.shape != labels.shape:
        raise ValueError(f"{tuple(predictions.shape)} predictions for {tuple(labels.shape)} "
                         "labels")
    return (predictions == labels).float().mean().item()
