"""Student training: the loop that fits a student, and its checkpoints.

:func:`fit_student` trains a GNN or MLP student (Adam) on a :class:`~cnn2gnn_lib.student_data.
StudentData` with a list of weighted loss terms (:mod:`cnn2gnn_lib.distill`: cross-entropy,
response distillation from *cached* teacher logits, relation distillation) and epoch callbacks
(e.g. :class:`SparsitySchedule`); it selects the epoch on the validation split, never on test.
:func:`train_student` builds all of that from a configuration and checkpoints every epoch;
:func:`student_train_or_load` reuses a finished run of exactly the same configuration.
The configuration itself, :class:`StudentConfig`, is in :mod:`cnn2gnn_lib.training.student_config`.
Chapters 5 and 6 of the book ("The GNN student", "Distillation") train students this way.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from ..progress import tqdm

from .. import config
from ..distill import LossTerm, StudentBatch, total_loss
from ..metrics import accuracy, correct
from ..student_data import StudentData
from ..students import Student, predict_batches
from ..students.inference import batch_slices
from ..teachers import count_parameters
from .callbacks import Callback, SaveState, SparsitySchedule
from .checkpoints import (CHECKPOINT_FORMAT, RunResult, atomic_save, load_checkpoint,
                          resumable_state,
                          run_paths, train_or_load_run, versions)
from .student_config import STUDENT_KINDS, StudentConfig  # noqa: F401  (re-exported)

StudentResult = RunResult  # a trained or loaded student: model, config, history, val metrics
# anchor-mode validation (StudentConfig.validation) uses a bank of this many training images:
# half the study's test bank, so the check costs about a second an epoch on a CPU
VALIDATION_BANK = 5000


# --------------------------------------------------------------------------------------------
# The loop


def epoch_batches(labels: torch.Tensor, batch_size: int, min_batch: int,
                  generator: torch.Generator, classes_per_batch: int | None = None,
                  num_classes: int | None = None) -> list[torch.Tensor]:
    """The row indices of one epoch's batches: a seeded shuffle cut into batches, or, with
    ``classes_per_batch``, batches that each hold images of that many classes only."""
    if classes_per_batch is None:
        order = torch.randperm(len(labels), generator=generator)
        return [order[part] for part in batch_slices(len(order), batch_size, min_batch)]
    num_classes = num_classes or int(labels.max()) + 1
    if not 1 <= classes_per_batch <= num_classes:
        raise ValueError(f"batch_classes must be in [1, {num_classes}], got {classes_per_batch}")
    batches = []
    for group in torch.randperm(num_classes, generator=generator).split(classes_per_batch):
        rows = torch.nonzero(torch.isin(labels, group)).squeeze(1)
        rows = rows[torch.randperm(len(rows), generator=generator)]
        batches += [rows[part] for part in batch_slices(len(rows), batch_size, min_batch)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def _check_terms(student: Student, terms: Sequence[LossTerm], teacher: torch.Tensor | None,
                 rows: int) -> None:
    if any(t.needs_teacher for t in terms) and (teacher is None or teacher.shape[-2] != rows):
        raise ValueError("distillation terms need teacher_logits with one row per training "
                         "image")
    if any(t.needs_graph for t in terms) and (student.head is None
                                             or not student.head.learnable):
        raise ValueError("relation distillation needs a learned graph (a fixed kNN graph or "
                         "an MLP has no graph parameters to teach)")


def _fresh_state(seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)  # dropout masks
    return {"epoch": 0, "history": [], "best_epoch": 0, "best_val_accuracy": -1.0,
            "best_model": None, "seconds": 0.0}


def _student_batch(student: Student, x: torch.Tensor, y: torch.Tensor,
                   answers: torch.Tensor | None, label_trick: float, needs_graph: bool,
                   generator: torch.Generator) -> StudentBatch:
    """The student's answers on one training batch, as the loss terms read them. With the
    label trick a random share ``label_trick`` of the rows carries its label as input, and the
    batch keeps only the other rows: no node is scored on a label it was shown."""
    if label_trick == 0:
        logits, graph = student(x, return_graph=True) if needs_graph else (student(x), None)
        return StudentBatch(logits, y, answers, graph)
    known = torch.rand(len(y), generator=generator) < label_trick
    known[torch.randint(len(y), (1,), generator=generator)] = False  # one row to learn from
    known = known.to(y.device)
    logits, asked = student(x, labels=y, known=known), ~known
    return StudentBatch(logits[asked], y[asked], None if answers is None else answers[asked])


def _validation_logits(student: Student, data: StudentData, x_val: torch.Tensor,
                       cfg: StudentConfig) -> torch.Tensor:
    """The validation logits an epoch is judged by (``cfg.validation_mode``): batch mode, or
    anchor mode against a bank of training images (carrying their labels for a student that
    reads them, the label trick)."""
    if cfg.validation_mode == "batch":
        return predict_batches(student, x_val, cfg.batch_size)
    anchors = data.anchor_bank(min(VALIDATION_BANK, len(data.train_images)))
    labels = anchors.labels.to(x_val.device) if student.reads_labels else None
    bank = student.build_anchor_bank(anchors.features.to(x_val.device), labels=labels)
    return student.predict_anchor(x_val, bank)


def _train_epoch(student: Student, data: StudentData, cfg: StudentConfig,
                 terms: Sequence[LossTerm], teacher: torch.Tensor | None,
                 optimizer: torch.optim.Optimizer, generator: torch.Generator, epoch: int
                 ) -> dict[str, Any]:
    """One epoch over the training rows; returns the epoch's history row."""
    device = next(student.parameters()).device
    needs_graph = any(t.needs_graph for t in terms)
    student.train()
    began = time.perf_counter()
    loss_sum, right, seen = 0.0, 0, 0
    for rows in epoch_batches(data.y_train, cfg.batch_size, student.min_batch, generator,
                              cfg.batch_classes, data.num_classes):
        x, y, answers = data.training_batch(rows, teacher, generator)
        batch = _student_batch(student, x.to(device), y.to(device),
                               None if answers is None else answers.to(device), cfg.label_trick,
                               needs_graph, generator)
        loss = total_loss(terms, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(batch.targets)
        right += correct(batch.logits, batch.targets)
        seen += len(batch.targets)
    return {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": right / seen,
            "seconds": time.perf_counter() - began}


def fit_student(student: Student, data: StudentData, cfg: StudentConfig,
                terms: Sequence[LossTerm], teacher_logits: torch.Tensor | None = None,
                callbacks: Sequence[Callback] = (), state: dict[str, Any] | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Train ``student`` on ``data`` (Adam with ``cfg``'s lr, weight decay, epochs and batch
    size) by minimising the weighted ``terms``; ``teacher_logits`` are the cached logits of
    the training rows, in their order (:meth:`StudentData.teacher_rows`).

    After every epoch the student is evaluated on the validation split (in batch or anchor
    mode, ``cfg.validation_mode``) and the parameters of the
    best epoch (among those every callback lets compete) are kept and loaded at the end.
    ``state`` (from an earlier call, as handed to the callbacks' ``on_state``) continues an
    interrupted run exactly. Returns the final state: ``history``, ``best_epoch``,
    ``best_val_accuracy``, ``seconds``.
    """
    _check_terms(student, terms, teacher_logits, len(data.y_train))
    optimizer = torch.optim.Adam(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    if state is None:
        state = _fresh_state(cfg.seed)
    else:
        student.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    device = next(student.parameters()).device
    x_val = data.x_val.to(device)
    bar = tqdm(range(state["epoch"], cfg.epochs), desc=type(student).__name__, unit="epoch",
               disable=not progress, initial=state["epoch"], total=cfg.epochs)
    for epoch in bar:
        for callback in callbacks:
            callback.on_epoch_start(student, epoch)
        row = _train_epoch(student, data, cfg, terms, teacher_logits, optimizer, generator,
                           epoch)
        for callback in callbacks:
            callback.on_epoch_end(student, row)
        val_logits = _validation_logits(student, data, x_val, cfg).cpu()
        row["val_accuracy"] = accuracy(val_logits, data.y_val)
        if (all(c.may_select(student) for c in callbacks)
                and row["val_accuracy"] > state["best_val_accuracy"]):
            state["best_val_accuracy"], state["best_epoch"] = row["val_accuracy"], epoch + 1
            state["best_model"] = {k: v.detach().clone() for k, v in
                                   student.state_dict().items()}
        state["history"].append(row)
        state["seconds"] += row["seconds"]
        state.update(epoch=epoch + 1, model=student.state_dict(), optimizer=optimizer.state_dict(),
                     generator=generator.get_state(), torch_rng=torch.get_rng_state())
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items()
                         if k in ("train_loss", "train_acc", "val_accuracy")})
        for callback in callbacks:
            callback.on_state(state)
    for callback in callbacks:
        callback.on_train_end(student)
    if state["best_model"] is not None:
        student.load_state_dict(state["best_model"])
    student.eval()
    return state


# --------------------------------------------------------------------------------------------
# Runs: configuration -> data, terms, callbacks, checkpoints


def student_checkpoint_paths(cfg: StudentConfig, out_dir: str | os.PathLike | None = None):
    """``(final, partial)`` checkpoint paths of a student configuration."""
    return run_paths("students", cfg.name(), out_dir)


def load_student(path: str | os.PathLike) -> StudentResult:
    """Load a finished student checkpoint written by :func:`train_student`."""
    state = load_checkpoint(path)
    stored = StudentConfig(**state["config"])
    model = stored.build(state["in_features"], state["num_classes"])
    model.load_state_dict(state["model"])
    return StudentResult(model.eval(), stored, state["history"], state["metrics"], Path(path),
                         True)


def train_student(cfg: StudentConfig, teacher_logits: torch.Tensor | None = None,
                  out_dir: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
                  progress: bool = True, resume: bool = True,
                  device: torch.device | str | None = "cpu",
                  student_data: StudentData | None = None) -> StudentResult:
    """Train the student of ``cfg`` and save it (resuming its partial checkpoint if any).

    ``teacher_logits`` are the cached logits of the teacher (:func:`cache_teacher_logits`) on
    the whole training split or on the pool, needed when ``cfg.alpha > 0``. ``student_data``
    reuses data already built for ``cfg`` (:meth:`StudentData.from_config`). The saved model is
    the one of the best validation epoch; the test split is not read here. Students are small,
    so they train on the CPU unless ``device`` says otherwise (``None``: pick one).
    """
    split = student_data or StudentData.from_config(cfg, root)
    teacher = split.teacher_rows(teacher_logits) if cfg.needs_teacher else None
    final_path, partial_path = student_checkpoint_paths(cfg, out_dir)
    config.seed_everything(cfg.seed)
    model = cfg.build(split.in_features, split.num_classes).to(config.pick_device(device))
    stored = resumable_state(partial_path, cfg.to_dict()) if resume else None
    if stored is not None and progress:
        print(f"resuming {cfg.name()} after epoch {stored['state']['epoch']}/{cfg.epochs}")
    callbacks: list[Callback] = []
    if cfg.s_start is not None:
        callbacks.append(SparsitySchedule(cfg.s_start, cfg.s, cfg.epochs))
    callbacks.append(SaveState(lambda state: atomic_save(
        {"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "state": state}, partial_path)))
    state = fit_student(model, split, cfg, cfg.loss_terms(), teacher, callbacks,
                        None if stored is None else stored["state"], progress)
    metrics = {"val_accuracy": state["best_val_accuracy"], "best_epoch": state["best_epoch"],
               "train_seconds": state["seconds"], "train_images": len(split.train),
               "val_images": len(split.val), "parameters": count_parameters(model)}
    model.to("cpu")
    atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "model": model.state_dict(),
                 "in_features": split.in_features, "num_classes": split.num_classes,
                 "history": state["history"], "metrics": metrics, "versions": versions()},
                final_path)
    partial_path.unlink(missing_ok=True)
    return StudentResult(model, cfg, state["history"], metrics, final_path)


def student_train_or_load(cfg: StudentConfig, teacher_logits: torch.Tensor | None = None,
                          out_dir: str | os.PathLike | None = None,
                          root: str | os.PathLike | None = None, progress: bool = True,
                          device: torch.device | str | None = "cpu",
                          student_data: StudentData | None = None) -> StudentResult:
    """Load the finished student of exactly this configuration, or train it."""
    final_path, _ = student_checkpoint_paths(cfg, out_dir)
    return train_or_load_run(final_path, load_student, lambda result: result.config == cfg,
                             lambda: train_student(cfg, teacher_logits, out_dir, root, progress,
                                                   device=device, student_data=student_data))
