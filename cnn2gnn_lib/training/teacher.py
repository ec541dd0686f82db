"""Teacher training: CNN teachers on real images, their predictions and their cached logits.

The unit of work is a :class:`TeacherConfig`. Its fields decide everything about a run, and its
:meth:`~TeacherConfig.key` (a hash of those fields) names the checkpoint, so
:func:`train_or_load` reuses a finished run whose configuration matches exactly and never one
that differs (:mod:`cnn2gnn_lib.training.checkpoints`). Chapter 2 of the book ("The CNN
teacher") trains one. :func:`cache_teacher_logits` computes the teacher's logits on a set of
images once and stores them beside the checkpoint, so the student phase never runs the CNN.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from ..progress import tqdm

from .. import config, data
from ..metrics import accuracy, correct
from ..teachers import ImageClassifier, build_teacher, count_parameters
from . import precision, pretrained
from .checkpoints import (CHECKPOINT_FORMAT, RunResult, atomic_save, load_checkpoint,
                          resumable_state,
                          run_paths, train_or_load_run, versions)

# One-cycle schedule: 15% of the steps warm up from lr/10 to lr, then anneal to lr/1000 (the
# usual super-convergence shape; 20 epochs reach 94% on Fashion-MNIST with ResNet-20).
ONECYCLE = dict(pct_start=0.15, div_factor=10, final_div_factor=100)
REFERENCE_BATCH = 128  # the batch size the configured lr is for (scaled linearly otherwise)


@dataclass(frozen=True)
class TeacherConfig:
    """Everything that defines a teacher run (and nothing that does not, such as the device).

    ``lr`` is for ``batch_size`` 128 and is scaled linearly for other batch sizes.
    ``train_per_class``/``test_per_class`` of ``None`` use the whole split.
    """

    dataset: str = "fashion-mnist"
    arch: str = "resnet20"
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    augment: bool = True
    train_per_class: int | None = None
    test_per_class: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if self.schedule not in ("onecycle", "cosine"):
            raise ValueError(f"schedule must be 'onecycle' or 'cosine', got {self.schedule!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        data.dataset_info(self.dataset)  # unknown names fail here, before any work

    @classmethod
    def for_budget(cls, fast: bool | None = None, **overrides: Any) -> "TeacherConfig":
        """The configuration of the current mode (:func:`config.budget`), with overrides."""
        budget = config.budget(fast)
        values = dict(epochs=budget.teacher_epochs, train_per_class=budget.train_per_class,
                      test_per_class=budget.test_per_class)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        return settings_key(self.to_dict())

    def name(self) -> str:
        return f"{data.dataset_info(self.dataset).name}-{self.arch}-{self.key()}"


def settings_key(settings: dict[str, Any]) -> str:
    """A short hash of a run's settings: the part of a checkpoint name that tells runs apart."""
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


TrainResult = RunResult  # a trained or loaded teacher: model, config, history, test metrics


def _use_channels_last(device: torch.device) -> bool:
    # channels-last convolutions are about 1.3x faster on this project's CPUs and on CUDA.
    # torch.compile is not used: on the 2-core CPU it trained ResNet-20 at 0.90x the eager
    # speed after a 74 s compile (benchmarks/bench_teacher_compile.py, 2026-11-26).
    return device.type in ("cpu", "cuda")


@torch.no_grad()
def predict(model: nn.Module, dataset: data.ImageDataset, batch_size: int = 512,
            device: torch.device | str | None = None, progress: bool = False,
            desc: str = "predict") -> torch.Tensor:
    """Logits ``[N, K]`` (float32, on the CPU) of ``model`` on every image, in dataset order."""
    device = config.pick_device(device)
    was_training = model.training
    model.eval().to(device)
    channels_last = _use_channels_last(device)
    if channels_last:  # the same kernels as in training, so reloaded models give equal logits
        model.to(memory_format=torch.channels_last)
    outputs, amp = [], precision.choose(device)
    batches = data.iterate_batches(dataset, batch_size, device=device)
    for images, _ in tqdm(batches, total=data.num_batches(dataset, batch_size), desc=desc,
                          leave=False, disable=not progress):
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with amp.autocast():
            outputs.append(model(images).float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, 0)


def evaluate(model: nn.Module, dataset: data.ImageDataset, batch_size: int = 512,
             device: torch.device | str | None = None, progress: bool = False) -> dict[str, float]:
    """Cross-entropy loss and accuracy of ``model`` on ``dataset``."""
    logits = predict(model, dataset, batch_size, device, progress, desc="evaluate")
    targets = dataset.targets
    return {"loss": F.cross_entropy(logits, targets).item(),
            "accuracy": accuracy(logits, targets)}


def _make_scheduler(optimizer, cfg: TeacherConfig, steps_per_epoch: int, lr: float):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total,
                                                   **ONECYCLE)
    # cosine: a linear warm-up over one epoch (at most a tenth of training), then cosine decay
    warmup = min(steps_per_epoch, max(1, total // 10))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def teacher_splits(cfg: TeacherConfig, root: str | os.PathLike | None = None):
    """``(train, test)``: the images a teacher run trains on and is tested on (the whole
    splits, or the configured balanced subsets)."""
    train = data.balanced_subset(data.load_dataset(cfg.dataset, "train", root),
                                 cfg.train_per_class, cfg.seed)
    test = data.balanced_subset(data.load_dataset(cfg.dataset, "test", root),
                                cfg.test_per_class, cfg.seed)
    return train, test


def checkpoint_paths(cfg: TeacherConfig, out_dir: str | os.PathLike | None = None):
    """``(final, partial)`` checkpoint paths of a teacher configuration."""
    return run_paths("teachers", cfg.name(), out_dir)


def _build_for(cfg: TeacherConfig) -> ImageClassifier:
    info = data.dataset_info(cfg.dataset)
    return build_teacher(cfg.arch, info.in_channels, info.num_classes, info.mean, info.std)


def load_teacher(path: str | os.PathLike, device: torch.device | str | None = None) -> TrainResult:
    """Load a finished teacher checkpoint written by :func:`train_teacher`."""
    path = Path(path)
    state = load_checkpoint(path)
    if "metrics" not in state:
        raise RuntimeError(f"{path} is an unfinished run (partial checkpoint); resume it with "
                           "train_or_load or train-teacher.")
    cfg = TeacherConfig(**state["config"])
    model = _build_for(cfg)
    model.load_state_dict(state["model"])
    model.to(config.pick_device(device)).eval()
    return TrainResult(model, cfg, state["history"], state["metrics"], path, loaded=True)


@dataclass
class _TeacherRun:
    """Everything a teacher run carries from epoch to epoch (and into its partial checkpoint)."""

    model: ImageClassifier
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    precision: precision.Precision
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    epoch: int = 0
    elapsed: float = 0.0
    # what the loop calls: the model itself, or a DistributedDataParallel wrapper of it
    # (:mod:`~cnn2gnn_lib.training.distributed`); checkpoints always hold the bare model
    trainer: nn.Module | None = None

    def state(self, cfg: TeacherConfig) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "generator": self.generator.get_state(), "history": self.history,
                "epoch": self.epoch, "elapsed": self.elapsed}

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"])
        self.history, self.epoch, self.elapsed = state["history"], state["epoch"], state["elapsed"]


def _start_run(cfg: TeacherConfig, device: torch.device, generator: torch.Generator,
               steps: int) -> _TeacherRun:
    model = _build_for(cfg).to(device)
    if _use_channels_last(device):
        model = model.to(memory_format=torch.channels_last)
    lr = cfg.lr * cfg.batch_size / REFERENCE_BATCH
    decay, no_decay = [], []
    for parameter in model.parameters():  # no weight decay on biases and batch-norm scales
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=lr, momentum=cfg.momentum, nesterov=True)
    amp = precision.choose(device)
    return _TeacherRun(model, optimizer, _make_scheduler(optimizer, cfg, steps, lr),
                       amp.scaler(), generator, amp)  # the scaler is active for float16 only


def _train_epoch(run: _TeacherRun, cfg: TeacherConfig, train_set: data.ImageDataset,
                 device: torch.device, steps: int, progress: bool, batches=None
                 ) -> dict[str, float]:
    """One epoch of SGD over shuffled, augmented batches; returns the epoch's history row.

    ``batches`` (default: the whole training set, shuffled by ``run.generator``) lets a process
    of a distributed run pass its own shard."""
    model, channels_last = run.trainer or run.model, _use_channels_last(device)
    model.train()
    began = time.perf_counter()
    loss_sum, right, seen = 0.0, 0, 0
    if batches is None:
        batches = data.iterate_batches(train_set, cfg.batch_size, shuffle=True,
                                       augment=cfg.augment, generator=run.generator,
                                       device=device, drop_last=True)
    bar = tqdm(batches, total=steps, desc=f"epoch {run.epoch + 1}", leave=False,
               disable=not progress, unit="batch")
    for images, labels in bar:
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with run.precision.autocast():
            logits = model(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at epoch {run.epoch + 1}; "
                                     f"lower the learning rate (now {cfg.lr}).")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        loss_sum += loss.item() * len(labels)
        right += correct(logits, labels)
        seen += len(labels)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{right / seen:.3f}")
    seconds = time.perf_counter() - began
    return {"epoch": run.epoch + 1, "train_loss": loss_sum / seen, "train_acc": right / seen,
            "lr": run.scheduler.get_last_lr()[0], "seconds": seconds,
            "images_per_second": seen / seconds}


def train_teacher(cfg: TeacherConfig, device: torch.device | str | None = None,
                  out_dir: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
                  progress: bool = True, monitor: bool = True, resume: bool = True) -> TrainResult:
    """Train a teacher from scratch (or resume its partial checkpoint) and save it.

    SGD with Nesterov momentum and weight decay, a one-cycle or warm-up + cosine learning-rate
    schedule stepped every batch, crop + flip augmentation, mixed precision on CUDA as the GPU
    allows (:mod:`cnn2gnn_lib.training.precision`). With
    ``monitor`` the test split is evaluated after every epoch for the learning curves only: the
    saved model is always the one after the last epoch, so nothing is selected on the test set.
    """
    device = config.pick_device(device)
    final_path, partial_path = checkpoint_paths(cfg, out_dir)
    generator = config.seed_everything(cfg.seed)
    train_set, test_set = teacher_splits(cfg, root)
    steps = data.num_batches(train_set, cfg.batch_size, drop_last=True)
    run = _start_run(cfg, device, generator, steps)
    stored = resumable_state(partial_path, cfg.to_dict()) if resume else None
    if stored is not None:
        run.restore(stored)
        if progress:
            print(f"resuming {cfg.name()} after epoch {run.epoch}/{cfg.epochs}")
    epochs = tqdm(range(run.epoch, cfg.epochs), desc=f"{cfg.arch} on {cfg.dataset}",
                  unit="epoch", disable=not progress, initial=run.epoch, total=cfg.epochs)
    for _ in epochs:
        row = _train_epoch(run, cfg, train_set, device, steps, progress)
        run.elapsed += row["seconds"]
        if monitor:
            row.update({f"test_{k}": v for k, v in evaluate(run.model, test_set,
                                                            device=device).items()})
        run.history.append(row)
        run.epoch += 1
        epochs.set_postfix({k: f"{v:.3f}" for k, v in row.items()
                            if k in ("train_loss", "train_acc", "test_accuracy")})
        atomic_save(run.state(cfg), partial_path)
    return _finish(run, cfg, train_set, test_set, device, final_path, partial_path)


def _finish(run: _TeacherRun, cfg: TeacherConfig, train_set, test_set, device, final_path: Path,
            partial_path: Path) -> TrainResult:
    metrics = _final_metrics(run, cfg, train_set, test_set, device,
                             evaluate(run.model, test_set, device=device))
    return _write_final(run, cfg, metrics, final_path, partial_path)


def _final_metrics(run: _TeacherRun, cfg: TeacherConfig, train_set, test_set, device,
                   final: dict[str, float]) -> dict[str, Any]:
    """What a finished checkpoint records; ``final`` is :func:`evaluate`'s answer."""
    return {"test_accuracy": final["accuracy"], "test_loss": final["loss"],
            "train_seconds": run.elapsed, "epochs": cfg.epochs,
            "train_images": len(train_set), "test_images": len(test_set),
            "parameters": count_parameters(run.model), "device": str(device)}


def _write_final(run: _TeacherRun, cfg: TeacherConfig, metrics: dict[str, Any],
                 final_path: Path, partial_path: Path) -> TrainResult:
    """Save the finished checkpoint and drop the partial one."""
    run.model.eval()
    atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(),
                 "model": run.model.state_dict(), "history": run.history, "metrics": metrics,
                 "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")},
                final_path)
    partial_path.unlink(missing_ok=True)
    return TrainResult(run.model, cfg, run.history, metrics, final_path)


def train_or_load(cfg: TeacherConfig, device: torch.device | str | None = None,
                  out_dir: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
                  progress: bool = True, monitor: bool = True) -> TrainResult:
    """Load the finished checkpoint of exactly this configuration, or train (resuming if possible).

    Where no local checkpoint exists, a teacher shipped with the library
    (:mod:`~cnn2gnn_lib.training.pretrained`) trained with exactly ``cfg`` is used instead of
    training. A checkpoint whose stored configuration differs from ``cfg`` in any field is never
    reused.
    """
    final_path, _ = checkpoint_paths(cfg, out_dir)
    if not final_path.is_file():
        shipped = pretrained.load_shipped(cfg, device, progress)
        if shipped is not None:
            return shipped

    def matches(result: TrainResult) -> bool:
        if result.config == cfg and progress:
            print(f"loaded {final_path} (test accuracy {result.metrics['test_accuracy']:.4f})")
        return result.config == cfg

    return train_or_load_run(final_path, lambda path: load_teacher(path, device), matches,
                             lambda: train_teacher(cfg, device, out_dir, root, progress, monitor))

