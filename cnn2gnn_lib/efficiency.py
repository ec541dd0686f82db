"""What a model costs at inference: parameters, FLOPs per image, measured images per second.

FLOPs are counted by PyTorch's ``FlopCounterMode`` (matrix products and convolutions, a
multiply-add counted as 2 FLOPs). The GNN student's sparse message passing is not a matrix
product, so its cost (2 FLOPs per edge and feature, both layers) is added from the actual graph.
Throughput is measured, not estimated: the median of several timed passes after a warm-up, all
in the calling process, so teacher and student figures are comparable side by side.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .teachers import count_parameters


def flops_per_image(model: nn.Module, example: torch.Tensor) -> float:
    """FLOPs of one forward pass divided by the batch size of ``example`` (for a student, plus
    what its message passing adds: :meth:`cnn2gnn_lib.students.Student.message_passing_flops`)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example)
    total = float(counter.get_total_flops())
    message_passing = getattr(model, "message_passing_flops", None)  # teachers have none
    if message_passing is not None:
        total += message_passing(example)
    model.train(was_training)
    return total / example.shape[0]


def anchor_flops_per_image(model, bank, example: torch.Tensor) -> float:
    """FLOPs per image of anchor-mode inference (distances to the bank included)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.predict_anchor(example, bank)
    widths = model.lin1.out_features + model.lin2.out_features
    return counter.get_total_flops() / example.shape[0] + 2.0 * model.s * widths


def images_per_second(run: Callable[[torch.Tensor], object], batch: torch.Tensor,
                      repeats: int = 5, warmup: int = 2, min_seconds: float = 0.5) -> float:
    """Median images/s of ``run(batch)`` (no gradients); each timing lasts ``min_seconds``."""
    with torch.no_grad():
        for _ in range(warmup):
            run(batch)
        rates = []
        for _ in range(repeats):
            count, began = 0, time.perf_counter()
            while True:
                run(batch)
                if batch.is_cuda:
                    torch.cuda.synchronize()
                count += 1
                elapsed = time.perf_counter() - began
                if elapsed >= min_seconds:
                    break
            rates.append(count * batch.shape[0] / elapsed)
    return statistics.median(rates)


def profile(name: str, model: nn.Module, batch: torch.Tensor,
            run: Callable[[torch.Tensor], object] | None = None,
            flops: float | None = None, **measure) -> dict:
    """Parameters, FLOPs per image and images/s of ``model`` on ``batch`` in one record.

    ``run`` replaces ``model(batch)`` for the timing (e.g. anchor-mode prediction); then pass
    its ``flops`` per image too, since they are not those of ``model(batch)``.
    """
    model.eval()
    return {"model": name, "parameters": count_parameters(model),
            "flops_per_image": flops if flops is not None else flops_per_image(model, batch),
            "images_per_second": images_per_second(run or model, batch, **measure),
            "batch_size": batch.shape[0]}
