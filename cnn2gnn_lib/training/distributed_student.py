"""Students on several processes (chapter 9, "Scaling out"): the GNN's batch graph spans
every process's images (:mod:`cnn2gnn_lib.students.global_graph`), or, for comparison, each
process keeps the graph of its own images.

The loop is :func:`~cnn2gnn_lib.training.student.fit_student`'s with three changes: every
process draws the same seeded order and takes its ``B / N`` slice of each global batch of
``B``; the GNN's forward exchanges rows with the other processes; the gradients are averaged
across processes by hand after ``backward()`` (what ``DistributedDataParallel`` would do, but
the forward pass has collectives of its own, whose order DDP's asynchronous buckets must not
interleave with).
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch
import torch.distributed as dist
from ..progress import tqdm

from ..distill import LossTerm, StudentBatch, total_loss
from ..metrics import accuracy, correct
from ..student_data import StudentData
from ..students import Student
from ..students.global_graph import all_gather_rows, batch_pass
from ..students.inference import predict_batches
from .distributed import Context, _collective, local_batch_size


def process_logits(student: Student, x: torch.Tensor, ctx: Context,
                   global_graph: bool = True) -> torch.Tensor:
    """This process's logits on its rows ``x`` of a global batch: in the global batch's graph
    (``global_graph``), or in the graph of its own rows only (plain data parallelism)."""
    if student.head is not None and global_graph:  # a student with a graph (not the MLP)
        return batch_pass(student, x, all_gather_rows, ctx.rank)
    return student(x)


def average_gradients(module: torch.nn.Module, ctx: Context) -> None:
    """Replace every gradient by its mean over the processes (one collective)."""
    params = [p for p in module.parameters() if p.requires_grad]
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in params])
    _collective(dist.all_reduce, flat)
    flat /= ctx.world_size
    offset = 0
    for p in params:
        p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
        offset += p.numel()


def _check(student: Student, terms: Sequence[LossTerm], cfg) -> None:
    if any(t.needs_graph for t in terms):
        raise ValueError("relation distillation is not available across processes (its graph "
                         "term needs every edge); train it in one process")
    if cfg.batch_classes is not None:
        raise ValueError("batches of a few classes (batch_classes) are not available across "
                         "processes; use shuffled batches")


def _epoch(student, data: StudentData, cfg, terms, teacher, optimizer, generator, ctx,
           global_graph: bool) -> dict[str, float]:
    size = local_batch_size(cfg.batch_size, ctx)
    order = torch.randperm(len(data.y_train), generator=generator)  # the same in every process
    student.train()
    began, totals = time.perf_counter(), torch.zeros(3, dtype=torch.float64)
    for start in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
        rows = order[start + ctx.rank * size:start + (ctx.rank + 1) * size]
        x, y = data.x_train[rows], data.y_train[rows]
        logits = process_logits(student, x, ctx, global_graph)
        loss = total_loss(terms, StudentBatch(logits, y, None if teacher is None
                                              else teacher[rows], None))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(student, ctx)
        optimizer.step()
        totals += torch.tensor([loss.item() * size, correct(logits, y), size],
                               dtype=torch.float64)
    _collective(dist.all_reduce, totals)
    return {"train_loss": (totals[0] / totals[2]).item(),
            "train_acc": (totals[1] / totals[2]).item(),
            "seconds": time.perf_counter() - began}


def fit_student_distributed(student: Student, data: StudentData, cfg, terms: Sequence[LossTerm],
                            ctx: Context, teacher_logits: torch.Tensor | None = None,
                            global_graph: bool = True, progress: bool = True) -> dict[str, Any]:
    """Train ``student`` with ``ctx.world_size`` processes (each calls this, after
    :func:`~cnn2gnn_lib.training.distributed.start`), Adam with ``cfg``'s settings, keeping
    the epoch of best validation accuracy as :func:`fit_student` does. ``cfg.batch_size`` is
    the global batch. Returns ``history``, ``best_epoch``, ``best_val_accuracy``, ``seconds``.
    """
    _check(student, terms, cfg)
    for parameter in student.parameters():  # the same start everywhere, whatever the seeds
        _collective(dist.broadcast, parameter.data, 0)
    optimizer = torch.optim.Adam(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed * 1_009 + ctx.rank)  # dropout masks differ between processes
    state = {"history": [], "best_epoch": 0, "best_val_accuracy": -1.0, "seconds": 0.0,
             "processes": ctx.world_size, "global_graph": global_graph}
    best = None
    bar = tqdm(range(cfg.epochs), desc=f"{type(student).__name__} ({ctx.world_size} processes)",
               unit="epoch", disable=not (progress and ctx.is_main))
    for epoch in bar:
        row = {"epoch": epoch + 1, **_epoch(student, data, cfg, terms, teacher_logits,
                                            optimizer, generator, ctx, global_graph)}
        # validation in one process's batch mode: every process holds the same parameters
        row["val_accuracy"] = accuracy(predict_batches(student, data.x_val, cfg.batch_size),
                                       data.y_val)
        if row["val_accuracy"] > state["best_val_accuracy"]:
            state["best_val_accuracy"], state["best_epoch"] = row["val_accuracy"], epoch + 1
            best = {k: v.detach().clone() for k, v in student.state_dict().items()}
        state["history"].append(row)
        state["seconds"] += row["seconds"]
        bar.set_postfix(train_loss=f"{row['train_loss']:.3f}",
                        val_accuracy=f"{row['val_accuracy']:.3f}")
    if best is not None:
        student.load_state_dict(best)
    return state
