"""Training loops: CNN teachers and GNN/MLP students; evaluate, checkpoint, resume, reuse.

The unit of work is a :class:`TeacherConfig`. Its fields decide everything about a run, and its
:meth:`~TeacherConfig.key` (a hash of those fields) names the checkpoint, so
:func:`train_or_load` can reuse a finished run whose configuration matches exactly and never
reuse one that differs. A run writes a resumable checkpoint after every epoch; starting the same
configuration again continues from the last finished epoch with the same random stream.

Teacher logits on the training set are computed once by :func:`cache_teacher_logits` and stored
next to the checkpoint, so the student phase never runs the CNN. Students follow the same pattern
with :class:`StudentConfig`, :func:`train_student` and :func:`student_train_or_load`; their loop,
:func:`fit_student`, distils from those cached logits and selects the epoch on a validation split
carved from the training set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config, data
from .teachers import ImageClassifier, build_teacher, count_parameters

CHECKPOINT_FORMAT = 1


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
        plan = config.budget(fast)
        values = dict(epochs=plan.teacher_epochs, train_per_class=plan.train_per_class,
                      test_per_class=plan.test_per_class)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def name(self) -> str:
        return f"{data.dataset_info(self.dataset).name}-{self.arch}-{self.key()}"


@dataclass
class TrainResult:
    """A trained (or loaded) teacher with its history and final metrics."""

    model: ImageClassifier
    config: TeacherConfig
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    path: Path | None = None
    loaded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def versions() -> dict[str, str]:
    """Versions and machine facts recorded in every checkpoint and result."""
    import numpy
    import torchvision

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__,
            "machine": platform.machine(), "cpu_count": str(os.cpu_count()),
            "torch_threads": str(torch.get_num_threads())}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _use_channels_last(device: torch.device) -> bool:
    # channels-last convolutions are about 1.3x faster on this project's CPUs and on CUDA
    return device.type in ("cpu", "cuda")


def _autocast(device: torch.device):
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


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
    outputs = []
    batches = data.iterate_batches(dataset, batch_size, device=device)
    for images, _ in tqdm(batches, total=data.num_batches(dataset, batch_size), desc=desc,
                          leave=False, disable=not progress):
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            outputs.append(model(images).float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, 0)


def evaluate(model: nn.Module, dataset: data.ImageDataset, batch_size: int = 512,
             device: torch.device | str | None = None, progress: bool = False) -> dict[str, float]:
    """Cross-entropy loss and accuracy of ``model`` on ``dataset``."""
    logits = predict(model, dataset, batch_size, device, progress, desc="evaluate")
    targets = dataset.targets
    return {"loss": F.cross_entropy(logits, targets).item(),
            "accuracy": (logits.argmax(1) == targets).float().mean().item()}


def _make_scheduler(optimizer, cfg: TeacherConfig, steps_per_epoch: int, lr: float):
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total,
                                                   pct_start=0.15, div_factor=10,
                                                   final_div_factor=100)
    warmup = min(steps_per_epoch, max(1, total // 10))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def checkpoint_paths(cfg: TeacherConfig, out_dir: str | os.PathLike | None = None):
    """``(final, partial)`` checkpoint paths of a configuration."""
    folder = config.artifacts_dir(out_dir) / "teachers"
    return folder / f"{cfg.name()}.pt", folder / f"{cfg.name()}.partial.pt"


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, temporary)
    os.replace(temporary, path)


def _load_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise RuntimeError(f"{path} is not a readable checkpoint ({type(error).__name__}: "
                           f"{error}); delete it to train again.") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RuntimeError(f"{path} is not a cnn2gnn checkpoint of format "
                           f"{CHECKPOINT_FORMAT}; delete it to train again.")
    return state


def _build_for(cfg: TeacherConfig) -> ImageClassifier:
    info = data.dataset_info(cfg.dataset)
    return build_teacher(cfg.arch, info.in_channels, info.num_classes, info.mean, info.std)


def load_teacher(path: str | os.PathLike, device: torch.device | str | None = None) -> TrainResult:
    """Load a finished teacher checkpoint written by :func:`train_teacher`."""
    path = Path(path)
    state = _load_file(path)
    if "metrics" not in state:
        raise RuntimeError(f"{path} is an unfinished run (partial checkpoint); resume it with "
                           "train_or_load or train-teacher.")
    cfg = TeacherConfig(**state["config"])
    model = _build_for(cfg)
    model.load_state_dict(state["model"])
    model.to(config.pick_device(device)).eval()
    return TrainResult(model, cfg, state["history"], state["metrics"], path, loaded=True,
                       extra={"versions": state.get("versions", {})})


def train_teacher(cfg: TeacherConfig, device: torch.device | str | None = None,
                  out_dir: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
                  progress: bool = True, monitor: bool = True, resume: bool = True) -> TrainResult:
    """Train a teacher from scratch (or resume its partial checkpoint) and save it.

    SGD with Nesterov momentum and weight decay, a one-cycle or warm-up + cosine learning-rate
    schedule stepped every batch, crop + flip augmentation, mixed precision on CUDA. With
    ``monitor`` the test split is evaluated after every epoch for the learning curves only: the
    saved model is always the one after the last epoch, so nothing is selected on the test set.
    """
    device = config.pick_device(device)
    final_path, partial_path = checkpoint_paths(cfg, out_dir)
    generator = config.seed_everything(cfg.seed)
    train_full = data.load_dataset(cfg.dataset, "train", root)
    test_full = data.load_dataset(cfg.dataset, "test", root)
    train_set = data.balanced_subset(train_full, cfg.train_per_class, cfg.seed)
    test_set = data.balanced_subset(test_full, cfg.test_per_class, cfg.seed)

    model = _build_for(cfg).to(device)
    channels_last = _use_channels_last(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    lr = cfg.lr * cfg.batch_size / 128
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=lr, momentum=cfg.momentum, nesterov=True)
    steps = data.num_batches(train_set, cfg.batch_size, drop_last=True)
    scheduler = _make_scheduler(optimizer, cfg, steps, lr)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda"
                                  and not torch.cuda.is_bf16_supported())
    history: list[dict[str, float]] = []
    start_epoch, elapsed = 0, 0.0
    if resume and partial_path.is_file():
        state = _load_file(partial_path)
        if state["config"] == cfg.to_dict():
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            generator.set_state(state["generator"])
            history, start_epoch, elapsed = state["history"], state["epoch"], state["elapsed"]
            if progress:
                print(f"resuming {cfg.name()} after epoch {start_epoch}/{cfg.epochs}")

    epochs = tqdm(range(start_epoch, cfg.epochs), desc=f"{cfg.arch} on {cfg.dataset}",
                  unit="epoch", disable=not progress, initial=start_epoch, total=cfg.epochs)
    for epoch in epochs:
        model.train()
        began = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        batches = data.iterate_batches(train_set, cfg.batch_size, shuffle=True,
                                       augment=cfg.augment, generator=generator, device=device,
                                       drop_last=True)
        bar = tqdm(batches, total=steps, desc=f"epoch {epoch + 1}", leave=False,
                   disable=not progress, unit="batch")
        for images, labels in bar:
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with _autocast(device):
                logits = model(images)
                loss = F.cross_entropy(logits.float(), labels,
                                       label_smoothing=cfg.label_smoothing)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}; "
                                         f"lower the learning rate (now {cfg.lr}).")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        seconds = time.perf_counter() - began
        elapsed += seconds
        row = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "lr": scheduler.get_last_lr()[0], "seconds": seconds,
               "images_per_second": seen / seconds}
        if monitor:
            row.update({f"test_{k}": v for k, v in evaluate(model, test_set, device=device).items()})
        history.append(row)
        epochs.set_postfix({k: f"{v:.3f}" for k, v in row.items()
                            if k in ("train_loss", "train_acc", "test_accuracy")})
        _atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(),
                      "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                      "generator": generator.get_state(), "history": history,
                      "epoch": epoch + 1, "elapsed": elapsed}, partial_path)

    final = evaluate(model, test_set, device=device)
    metrics = {"test_accuracy": final["accuracy"], "test_loss": final["loss"],
               "train_seconds": elapsed, "epochs": cfg.epochs, "train_images": len(train_set),
               "test_images": len(test_set), "parameters": count_parameters(model),
               "device": str(device)}
    model.eval()
    _atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(),
                  "model": model.state_dict(), "history": history, "metrics": metrics,
                  "versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")},
                 final_path)
    partial_path.unlink(missing_ok=True)
    return TrainResult(model, cfg, history, metrics, final_path)


def train_or_load(cfg: TeacherConfig, device: torch.device | str | None = None,
                  out_dir: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
                  progress: bool = True, monitor: bool = True) -> TrainResult:
    """Load the finished checkpoint of exactly this configuration, or train (resuming if possible).

    A checkpoint whose stored configuration differs from ``cfg`` in any field is never reused.
    """
    final_path, _ = checkpoint_paths(cfg, out_dir)
    if final_path.is_file():
        result = load_teacher(final_path, device)
        if result.config == cfg:
            if progress:
                print(f"loaded {final_path} (test accuracy "
                      f"{result.metrics['test_accuracy']:.4f})")
            return result
    return train_teacher(cfg, device, out_dir, root, progress, monitor)


def dataset_fingerprint(dataset: data.ImageDataset) -> str:
    """A short hash of which images (and labels) a dataset holds, for cache keys."""
    digest = hashlib.sha1()
    digest.update(f"{dataset.name}|{dataset.split}|{len(dataset)}".encode())
    digest.update(dataset.indices.numpy().tobytes())
    digest.update(dataset.targets.numpy().tobytes())
    return digest.hexdigest()[:12]


def cache_teacher_logits(result: TrainResult, dataset: data.ImageDataset,
                         out_dir: str | os.PathLike | None = None,
                         device: torch.device | str | None = None,
                         progress: bool = True) -> torch.Tensor:
    """Teacher logits ``[N, K]`` on ``dataset`` (no augmentation), computed once and cached.

    The cache file is keyed by the teacher's configuration and the dataset's fingerprint, so a
    different teacher or a different subset never reads another's logits.
    """
    folder = config.artifacts_dir(out_dir) / "logits"
    path = folder / f"{result.config.name()}-{dataset.split}-{dataset_fingerprint(dataset)}.pt"
    if path.is_file():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            if stored.shape == (len(dataset), dataset.info.num_classes):
                return stored
        except Exception:
            pass  # a damaged cache is recomputed below and overwritten
    logits = predict(result.model, dataset, device=device, progress=progress,
                     desc="teacher logits")
    _atomic_save(logits, path)
    return logits


# ============================================================================================
# Students


def fit_student(student: nn.Module, features: torch.Tensor, labels: torch.Tensor, epochs: int,
                batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 5e-4,
                teacher_logits: torch.Tensor | None = None, alpha: float = 0.0,
                temperature: float = 4.0, val: tuple[torch.Tensor, torch.Tensor] | None = None,
                seed: int = 0, progress: bool = True, state: dict[str, Any] | None = None,
                on_epoch_end=None, relation_weight: float = 0.0, s_start: int | None = None,
                batch_classes: int | None = None) -> dict[str, Any]:
    """Train a student on flat features (Adam), with or without distillation.

    The loss is :func:`cnn2gnn_lib.distill.kd_loss` with the cached ``teacher_logits`` of the
    same rows (``alpha = 0``: plain cross-entropy; the teacher never runs here). With ``val``
    the student is evaluated in batch mode after every epoch and the parameters of the best
    validation epoch are kept and loaded at the end (model selection on validation only).

    ``state`` (returned by an earlier call and passed to ``on_epoch_end(state)`` after every
    epoch) lets an interrupted run continue exactly where it stopped. Returns the final state:
    ``history``, ``best_epoch``, ``best_val_accuracy``, ``seconds``.

    Graph students only: ``relation_weight`` adds
    ``relation_weight * distill.relation_loss(graph, teacher logits)`` (relation-level
    distillation); ``s_start`` grows the sparsity from ``s_start`` to the student's ``s`` over
    the first half of the epochs (only epochs at the final ``s`` compete for the best model);
    ``batch_classes`` composes every training batch of images from that many classes only.
    """
    from .distill import kd_loss, relation_loss
    from .students import GNNStudent, batch_slices, min_batch, predict_batches

    if features.shape[0] != labels.shape[0]:
        raise ValueError(f"{features.shape[0]} feature rows but {labels.shape[0]} labels")
    needs_teacher = alpha > 0 or relation_weight > 0
    if needs_teacher and (teacher_logits is None or teacher_logits.shape[0] != features.shape[0]):
        raise ValueError("alpha > 0 or relation_weight > 0 needs teacher_logits with one row per "
                         "training image")
    graph_student = isinstance(student, GNNStudent)
    if (relation_weight > 0 or s_start is not None) and not graph_student:
        raise ValueError("relation_weight and s_start apply to graph students only")
    if relation_weight > 0 and student.graph_kind != "learned":
        raise ValueError("relation_weight needs a learned graph (a fixed kNN graph has no "
                         "parameters to teach)")
    final_s = student.s if graph_student else None
    if s_start is not None and not 1 <= s_start <= final_s:
        raise ValueError(f"s_start must be in [1, s={final_s}], got {s_start}")
    num_classes = int(labels.max()) + 1
    if batch_classes is not None and not 1 <= batch_classes <= num_classes:
        raise ValueError(f"batch_classes must be in [1, {num_classes}], got {batch_classes}")

    def s_at(epoch: int) -> int:
        ramp = max(1, epochs // 2)
        return round(s_start + (final_s - s_start) * min(1.0, epoch / ramp))

    def epoch_batches(generator: torch.Generator) -> list[torch.Tensor]:
        if batch_classes is None:
            order = torch.randperm(features.shape[0], generator=generator)
            return [order[part] for part in batch_slices(len(order), batch_size,
                                                         min_batch(student))]
        batches = []
        shuffled = torch.randperm(num_classes, generator=generator)
        for group in shuffled.split(batch_classes):
            rows = torch.nonzero(torch.isin(labels, group)).squeeze(1)
            rows = rows[torch.randperm(len(rows), generator=generator)]
            batches += [rows[part] for part in batch_slices(len(rows), batch_size,
                                                            min_batch(student))]
        return [batches[i] for i in torch.randperm(len(batches), generator=generator)]
    optimizer = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    if state is None:
        torch.manual_seed(seed)  # dropout masks
        state = {"epoch": 0, "history": [], "best_epoch": 0, "best_val_accuracy": -1.0,
                 "best_model": None, "seconds": 0.0}
    else:
        student.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    device = next(student.parameters()).device
    bar = tqdm(range(state["epoch"], epochs), desc=type(student).__name__, unit="epoch",
               disable=not progress, initial=state["epoch"], total=epochs)
    for epoch in bar:
        student.train()
        if s_start is not None:
            student.s = s_at(epoch)
        began = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        for rows in epoch_batches(generator):
            x, y = features[rows].to(device), labels[rows].to(device)
            if relation_weight > 0:
                logits, graph = student(x, return_graph=True)
            else:
                logits = student(x)
            if alpha > 0:
                loss = kd_loss(logits, teacher_logits[rows].to(device), y, temperature, alpha)
            else:
                loss = F.cross_entropy(logits, y)
            if relation_weight > 0:
                loss = loss + relation_weight * relation_loss(
                    graph, teacher_logits[rows].to(device), temperature)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(rows)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(rows)
        row = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "seconds": time.perf_counter() - began}
        if s_start is not None:
            row["s"] = student.s
        if val is not None:
            val_logits = predict_batches(student, val[0].to(device), batch_size).cpu()
            row["val_accuracy"] = (val_logits.argmax(1) == val[1]).float().mean().item()
            at_final_s = s_start is None or student.s == final_s
            if at_final_s and row["val_accuracy"] > state["best_val_accuracy"]:
                state["best_val_accuracy"], state["best_epoch"] = row["val_accuracy"], epoch + 1
                state["best_model"] = {k: v.detach().clone() for k, v in
                                       student.state_dict().items()}
        state["history"].append(row)
        state["seconds"] += row["seconds"]
        state.update(epoch=epoch + 1, model=student.state_dict(), optimizer=optimizer.state_dict(),
                     generator=generator.get_state(), torch_rng=torch.get_rng_state())
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items()
                         if k in ("train_loss", "train_acc", "val_accuracy")})
        if on_epoch_end is not None:
            on_epoch_end(state)
    if graph_student:
        student.s = final_s
    if state["best_model"] is not None:
        student.load_state_dict(state["best_model"])
    student.eval()
    return state


@dataclass(frozen=True)
class StudentConfig:
    """Everything that defines a student run.

    ``kind``: ``"mlp"``, ``"gnn-learned"`` or ``"gnn-knn"``. ``alpha = 0`` trains without the
    teacher; ``alpha > 0`` distils from the cached logits of the teacher named by ``teacher``
    (a :meth:`TeacherConfig.name`). The validation split (``val_per_class`` images per class)
    is carved from the training split with ``data_seed``, the same for every ``seed``.

    The design options of the graph student (:class:`cnn2gnn_lib.students.GNNStudent`):
    ``graph_layers``, ``self_weight`` and ``graph_space`` (``"hidden"`` too); and of training
    (:func:`fit_student`): ``relation_weight``, ``s_start``, ``batch_classes``.
    ``augment_views`` adds that many randomly cropped and flipped copies of every training
    image (:func:`student_train_set`), on which the teacher's logits are cached too, so
    teacher and student see the same view (consistent distillation).
    Options at their defaults are left out of :meth:`to_dict`, so adding an option never
    changes the names of earlier runs.
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
    val_per_class: int = 500
    data_seed: int = 0
    seed: int = 0
    graph_layers: str = "both"
    self_weight: float | str | None = None
    relation_weight: float = 0.0
    s_start: int | None = None
    batch_classes: int | None = None
    augment_views: int = 0

    def __post_init__(self):
        if self.kind not in ("mlp", "gnn-learned", "gnn-knn"):
            raise ValueError(f"unknown student kind {self.kind!r}; use mlp, gnn-learned or gnn-knn")
        graph_options = {name: getattr(self, name) for name in _GRAPH_OPTIONS
                         if getattr(self, name) != _OPTION_DEFAULTS[name]}
        if self.kind == "mlp" and graph_options:
            raise ValueError(f"options {sorted(graph_options)} apply to graph students only")
        if self.relation_weight > 0 and not self.teacher:
            raise ValueError("relation_weight > 0 (relation distillation) needs a teacher")
        if self.augment_views < 0:
            raise ValueError(f"augment_views must be >= 0, got {self.augment_views}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.alpha > 0 and not self.teacher:
            raise ValueError("alpha > 0 (distillation) needs a teacher")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        data.dataset_info(self.dataset)

    @classmethod
    def for_budget(cls, fast: bool | None = None, **overrides: Any) -> "StudentConfig":
        """The configuration of the current mode (:func:`config.budget`), with overrides."""
        plan = config.budget(fast)
        values: dict[str, Any] = dict(epochs=plan.student_epochs,
                                      train_per_class=plan.train_per_class)
        if plan.fast:
            values["val_per_class"] = 50
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        return {k: v for k, v in values.items()
                if k not in _OPTION_DEFAULTS or v != _OPTION_DEFAULTS[k]}

    key = TeacherConfig.key

    def name(self) -> str:
        kd = f"-kd{self.alpha:g}T{self.temperature:g}" if self.alpha > 0 else ""
        return f"{data.dataset_info(self.dataset).name}-{self.kind}{kd}-{self.key()}"

    def build(self, in_features: int, num_classes: int) -> nn.Module:
        from .students import build_student

        options: dict[str, Any] = {"dropout": self.dropout}
        if self.kind != "mlp":
            options.update(s=self.s, graph_space=self.graph_space,
                           self_loop_weight=self.self_loop_weight,
                           graph_layers=self.graph_layers, self_weight=self.self_weight)
        return build_student(self.kind, in_features, self.hidden, num_classes, **options)


# options added after the first study, with the values earlier runs implicitly had
_OPTION_DEFAULTS: dict[str, Any] = {"graph_layers": "both", "self_weight": None,
                                    "relation_weight": 0.0, "s_start": None,
                                    "batch_classes": None, "augment_views": 0}
_GRAPH_OPTIONS = ("graph_layers", "self_weight", "relation_weight", "s_start")


@dataclass
class StudentResult:
    """A trained (or loaded) student, its history and its validation metrics."""

    model: nn.Module
    config: StudentConfig
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    path: Path | None = None
    loaded: bool = False


def student_pool(cfg: StudentConfig, root: str | os.PathLike | None = None) -> data.ImageDataset:
    """The training images a student configuration draws from (train and validation parts)."""
    train_full = data.load_dataset(cfg.dataset, "train", root)
    return data.balanced_subset(train_full, cfg.train_per_class, cfg.data_seed)


def student_data(cfg: StudentConfig, root: str | os.PathLike | None = None):
    """``(train, val)`` image datasets of a student configuration (before augmentation)."""
    return data.train_val_split(student_pool(cfg, root), cfg.val_per_class, cfg.data_seed)


def student_train_set(cfg: StudentConfig, root: str | os.PathLike | None = None
                      ) -> data.ImageDataset:
    """The images a student trains on: its training split plus ``cfg.augment_views``
    augmented copies (:func:`cnn2gnn_lib.data.augmented_copies`, fixed by ``data_seed``)."""
    train, _ = student_data(cfg, root)
    if cfg.augment_views == 0:
        return train
    return data.augmented_copies(train, cfg.augment_views, cfg.data_seed)


def _teacher_rows(teacher_logits: torch.Tensor | None, cfg: StudentConfig,
                  train: data.ImageDataset, root) -> torch.Tensor:
    """The teacher's logits of the ``train`` images, from logits cached on the whole training
    split or on :func:`student_pool` (the cheaper choice in fast mode)."""
    if cfg.augment_views > 0:
        if teacher_logits is None or tuple(teacher_logits.shape) != (len(train),
                                                                     train.info.num_classes):
            got = None if teacher_logits is None else tuple(teacher_logits.shape)
            raise ValueError(f"a student with augment_views={cfg.augment_views} needs the "
                             f"teacher's logits on its augmented training set "
                             f"(student_train_set), shape {(len(train), train.info.num_classes)}"
                             f"; got {got}")
        return teacher_logits
    pool = student_pool(cfg, root)
    full = len(data.load_dataset(cfg.dataset, "train", root))
    shapes = {(full, train.info.num_classes), (len(pool), train.info.num_classes)}
    if teacher_logits is None or tuple(teacher_logits.shape) not in shapes:
        got = None if teacher_logits is None else tuple(teacher_logits.shape)
        raise ValueError(f"distillation needs the teacher's logits on the whole training split "
                         f"or on the student's pool of training images, shape one of "
                         f"{sorted(shapes)}; got {got}")
    if teacher_logits.shape[0] == full:
        return teacher_logits[train.indices]
    return teacher_logits[torch.searchsorted(pool.indices, train.indices)]


def student_checkpoint_paths(cfg: StudentConfig, out_dir: str | os.PathLike | None = None):
    folder = config.artifacts_dir(out_dir) / "students"
    return folder / f"{cfg.name()}.pt", folder / f"{cfg.name()}.partial.pt"


def _load_student(path: Path, cfg: StudentConfig | None = None) -> StudentResult:
    state = _load_file(path)
    stored = StudentConfig(**state["config"])
    if cfg is not None and stored != cfg:
        raise RuntimeError(f"{path} holds a different student configuration")
    model = stored.build(state["in_features"], state["num_classes"])
    model.load_state_dict(state["model"])
    return StudentResult(model.eval(), stored, state["history"], state["metrics"], path, True)


def train_student(cfg: StudentConfig, teacher_logits: torch.Tensor | None = None,
                  out_dir: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
                  progress: bool = True, resume: bool = True,
                  device: torch.device | str | None = "cpu") -> StudentResult:
    """Train the student of ``cfg`` and save it (resuming its partial checkpoint if any).

    ``teacher_logits`` are the cached logits of the teacher (:func:`cache_teacher_logits`) on
    the whole training split or on :func:`student_pool`, needed when ``cfg.alpha > 0``. The
    saved model is the one of the best validation epoch; the test split is not read here.
    Students are small, so they train on the CPU unless ``device`` says otherwise (``None``:
    :func:`config.pick_device`).
    """
    _, val = student_data(cfg, root)
    train = student_train_set(cfg, root)
    info = train.info
    if cfg.alpha > 0 or cfg.relation_weight > 0:
        teacher_logits = _teacher_rows(teacher_logits, cfg, train, root)
    x_train, x_val = data.flat_features(train), data.flat_features(val)
    final_path, partial_path = student_checkpoint_paths(cfg, out_dir)
    config.seed_everything(cfg.seed)
    model = cfg.build(x_train.shape[1], info.num_classes).to(config.pick_device(device))
    state = None
    if resume and partial_path.is_file():
        stored = _load_file(partial_path)
        if stored["config"] == cfg.to_dict():
            state = stored["state"]
            if progress:
                print(f"resuming {cfg.name()} after epoch {state['epoch']}/{cfg.epochs}")

    def save_partial(current: dict[str, Any]) -> None:
        _atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "state": current},
                     partial_path)

    state = fit_student(model, x_train, train.targets, cfg.epochs, cfg.batch_size, cfg.lr,
                        cfg.weight_decay, teacher_logits, cfg.alpha, cfg.temperature,
                        (x_val, val.targets), cfg.seed, progress, state, save_partial,
                        cfg.relation_weight, cfg.s_start, cfg.batch_classes)
    metrics = {"val_accuracy": state["best_val_accuracy"], "best_epoch": state["best_epoch"],
               "train_seconds": state["seconds"], "train_images": len(train),
               "val_images": len(val), "parameters": count_parameters(model)}
    model.to("cpu")
    _atomic_save({"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "model": model.state_dict(),
                  "in_features": x_train.shape[1], "num_classes": info.num_classes,
                  "history": state["history"], "metrics": metrics, "versions": versions()},
                 final_path)
    partial_path.unlink(missing_ok=True)
    return StudentResult(model, cfg, state["history"], metrics, final_path)


def student_train_or_load(cfg: StudentConfig, teacher_logits: torch.Tensor | None = None,
                          out_dir: str | os.PathLike | None = None,
                          root: str | os.PathLike | None = None,
                          progress: bool = True,
                          device: torch.device | str | None = "cpu") -> StudentResult:
    """Load the finished student of exactly this configuration, or train it."""
    final_path, _ = student_checkpoint_paths(cfg, out_dir)
    if final_path.is_file():
        return _load_student(final_path, cfg)
    return train_student(cfg, teacher_logits, out_dir, root, progress, device=device)
