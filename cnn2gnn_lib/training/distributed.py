"""Training on several processes or machines with ``torchrun`` (chapter 9, "Scaling out").

The library grows nothing of its own here: PyTorch's ``torchrun`` starts the processes and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`start` joins them into a process group (NCCL on GPUs, Gloo on CPUs) and
``DistributedDataParallel`` averages the gradients. This module owns what a teacher run needs
around that:

* :class:`Context`, which process this is (:func:`context` reads torchrun's environment);
* :func:`train_batches`, each process's share of an epoch, drawn by a
  :class:`~torch.utils.data.DistributedSampler`;
* :func:`predict_sharded` (and :func:`evaluate_sharded`), predictions split across the
  processes and gathered back in dataset order, the sampler's padding dropped so no image
  counts twice;
* :func:`train_teacher_distributed`, the teacher loop of
  :func:`~cnn2gnn_lib.training.teacher.train_teacher` under DDP: rank 0 alone writes checkpoints
  and shows progress, every process resumes from rank 0's partial checkpoint.

**The batch and the learning rate.** ``TeacherConfig.batch_size`` is the *global* batch: each of
``N`` processes takes ``batch_size / N`` images per step, and the learning rate, set for the
global batch, is unchanged. So a configuration means the same training whether one process or
eight run it, and its checkpoint name does not depend on ``N``. Batch-norm statistics are
computed per process, as in plain DDP (``SyncBatchNorm`` needs GPUs), which is the one
difference from a single process on the whole batch.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from ..progress import tqdm

from .. import config, data
from ..metrics import accuracy
from . import pretrained
from . import teacher as teacher_loop
from .checkpoints import atomic_save, resumable_state

# How long a process waits in a collective for the others before giving up (a rank that died
# or hangs); torch's default is 10 minutes (30 for NCCL).
DEFAULT_TIMEOUT_S = 300


class PeerLost(RuntimeError):
    """Another process of the run stopped answering (it died, or hangs past the timeout)."""


@dataclass(frozen=True)
class Context:
    """Which process this is: ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs and progress bars."""
        return self.rank == 0


def context(environ: dict[str, str] | None = None) -> Context | None:
    """The :class:`Context` that ``torchrun`` describes in the environment, or None when this
    process was not started by it (or alone, ``WORLD_SIZE=1``)."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return None
    try:
        ctx = Context(int(env["RANK"]), int(env["WORLD_SIZE"]),
                      int(env.get("LOCAL_RANK", env["RANK"])))
    except (KeyError, ValueError) as error:
        raise ValueError(f"WORLD_SIZE is set but RANK/LOCAL_RANK are missing or not integers "
                         f"({error}); start several processes with torchrun") from error
    if ctx.world_size < 1 or not 0 <= ctx.rank < ctx.world_size:
        raise ValueError(f"RANK={ctx.rank} is not within WORLD_SIZE={ctx.world_size}")
    return ctx if ctx.world_size > 1 else None


def start(ctx: Context, device: torch.device | str | None = None,
          timeout_s: float | None = None) -> torch.device:
    """Join the process group of ``ctx`` and return this process's device.

    GPUs: NCCL, one GPU per process (``cuda:<local_rank>``); CPUs: Gloo. ``timeout_s``
    (default ``$CNN2GNN_DIST_TIMEOUT`` or :data:`DEFAULT_TIMEOUT_S`) bounds how long a
    collective waits for a process that stopped.
    """
    device = config.pick_device(device)
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    timeout = float(timeout_s or os.environ.get("CNN2GNN_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                rank=ctx.rank, world_size=ctx.world_size,
                                timeout=datetime.timedelta(seconds=timeout))
    return device


def stop() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def agree(flag: bool, ctx: Context) -> bool:
    """Rank 0's ``flag``, in every process (a decision only rank 0 can make)."""
    box = [flag]
    _collective(dist.broadcast_object_list, box, 0)
    return bool(box[0])


def find_finished(cfg: teacher_loop.TeacherConfig, device: torch.device | str | None = None,
                  out_dir: str | os.PathLike | None = None, progress: bool = True
                  ) -> teacher_loop.TrainResult | None:
    """The finished run of exactly ``cfg``: its local checkpoint or a shipped teacher (what
    :func:`~cnn2gnn_lib.training.teacher.train_or_load` would load), else None."""
    final_path, _ = teacher_loop.checkpoint_paths(cfg, out_dir)
    if final_path.is_file():
        result = teacher_loop.load_teacher(final_path, device)
        if result.config == cfg:
            return result
    return pretrained.load_shipped(cfg, device, progress)


def local_batch_size(global_batch: int, ctx: Context) -> int:
    """Each process's share of a global batch (which must divide evenly)."""
    if global_batch % ctx.world_size:
        raise ValueError(f"the global batch of {global_batch} does not split into "
                         f"{ctx.world_size} equal process batches; choose a batch size that "
                         f"is a multiple of {ctx.world_size}")
    return global_batch // ctx.world_size


def train_batches(dataset: data.ImageDataset, global_batch: int, epoch: int, seed: int,
                  ctx: Context, augment: bool = True, device: torch.device | str = "cpu"
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This process's batches of one epoch: a seeded shuffle shared by all processes
    (:class:`~torch.utils.data.DistributedSampler`, a new order each epoch), split into disjoint
    shares; each process augments its own with a generator seeded by ``(seed, epoch, rank)``,
    so an epoch is repeatable and a resumed run sees the same images."""
    sampler = DistributedSampler(range(len(dataset)), num_replicas=ctx.world_size,
                                 rank=ctx.rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    rows = torch.tensor(list(sampler), dtype=torch.long)
    generator = torch.Generator().manual_seed(((seed * 100_003 + epoch) * 1_009) + ctx.rank)
    size = local_batch_size(global_batch, ctx)
    for start_row in range(0, len(rows) - size + 1, size):
        picked = rows[start_row:start_row + size]
        images = dataset.images[picked].to(device).float().div_(255.0)
        if augment:
            images = data.random_crop_flip(images, dataset.info.crop_padding,
                                           dataset.info.horizontal_flip, generator)
        yield images, dataset.targets[picked].to(device)


def steps_per_epoch(dataset: data.ImageDataset, global_batch: int, ctx: Context) -> int:
    """Optimizer steps in one epoch (every process takes the same number)."""
    per_process = len(dataset) // ctx.world_size  # the sampler's drop_last share
    return per_process // local_batch_size(global_batch, ctx)


def predict_sharded(model: torch.nn.Module, dataset: data.ImageDataset, ctx: Context,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits ``[N, K]`` on every image, each process predicting its share.

    The sampler pads the dataset to a multiple of the number of processes by repeating its
    first images; the gathered rows are put back in dataset order and the padding is cut, so
    each image is counted exactly once.
    """
    sampler = DistributedSampler(range(len(dataset)), num_replicas=ctx.world_size,
                                 rank=ctx.rank, shuffle=False)
    local = teacher_loop.predict(model, dataset.select(list(sampler)), device=device)
    gathered = [torch.empty_like(local) for _ in range(ctx.world_size)]
    _collective(dist.all_gather, gathered, local)
    # sampler order: process r holds rows r, r + N, r + 2N, ... of the padded list
    return torch.stack(gathered, 1).reshape(-1, local.shape[1])[:len(dataset)]


def evaluate_sharded(model: torch.nn.Module, dataset: data.ImageDataset, ctx: Context,
                     device: torch.device | str = "cpu") -> dict[str, float]:
    """:func:`~cnn2gnn_lib.training.teacher.evaluate` with the images split across processes."""
    logits = predict_sharded(model, dataset, ctx, device)
    return {"loss": torch.nn.functional.cross_entropy(logits, dataset.targets).item(),
            "accuracy": accuracy(logits, dataset.targets)}


def _peer_lost(error: Exception) -> PeerLost:
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return PeerLost(f"rank {dist.get_rank()}: another process of this run stopped answering "
                    f"({first_line}). Run the same command again: training resumes from the "
                    f"last finished epoch.")


# Gloo reports a vanished peer as a plain RuntimeError from inside backward(), so failures of
# the process group are recognised by their type or by the backend's words.
_BACKEND_WORDS = ("gloo", "nccl", "connection closed", "connection reset", "broken pipe",
                  "timed out", "timeout")


def _is_group_failure(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, dist.DistError) or any(word in text for word in _BACKEND_WORDS)


def _collective(operation, *args) -> Any:
    try:
        return operation(*args)
    except RuntimeError as error:
        if _is_group_failure(error):
            raise _peer_lost(error) from error
        raise


def _mean_across(values: list[float], device: torch.device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    _collective(dist.all_reduce, tensor)
    return (tensor / dist.get_world_size()).tolist()


def _restore_from_main(run, cfg, partial_path, ctx: Context, resume: bool) -> None:
    """Rank 0 reads its partial checkpoint (if any) and hands it to every process, so the
    processes need not share a file system."""
    box = [resumable_state(partial_path, cfg.to_dict()) if resume and ctx.is_main else None]
    _collective(dist.broadcast_object_list, box, 0)
    if box[0] is not None:
        run.restore(box[0])


def train_teacher_distributed(cfg: teacher_loop.TeacherConfig, ctx: Context,
                              device: torch.device | str | None = None,
                              out_dir: str | os.PathLike | None = None,
                              root: str | os.PathLike | None = None, progress: bool = True,
                              monitor: bool = True, resume: bool = True
                              ) -> teacher_loop.TrainResult:
    """:func:`~cnn2gnn_lib.training.teacher.train_teacher` with ``ctx.world_size`` processes.

    Every process of ``ctx`` calls it (after :func:`start`); each returns the trained teacher.
    Rank 0 writes the partial checkpoint after every epoch and the final one; a run that was
    killed resumes from the last finished epoch when the same command is run again.
    """
    device = config.pick_device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", ctx.local_rank)  # one GPU per process
    final_path, partial_path = teacher_loop.checkpoint_paths(cfg, out_dir)
    config.seed_everything(cfg.seed)  # the same initial weights in every process
    train_set, test_set = teacher_loop.teacher_splits(cfg, root)
    steps = steps_per_epoch(train_set, cfg.batch_size, ctx)
    if steps < 1:
        raise ValueError(f"{len(train_set)} training images give no full step of "
                         f"{cfg.batch_size} images over {ctx.world_size} processes")
    run = teacher_loop._start_run(cfg, device, torch.Generator().manual_seed(cfg.seed), steps)
    _restore_from_main(run, cfg, partial_path, ctx, resume)
    run.trainer = DistributedDataParallel(run.model, device_ids=[device] if device.type == "cuda"
                                          else None)
    show = progress and ctx.is_main
    if show and run.epoch:
        print(f"resuming {cfg.name()} after epoch {run.epoch}/{cfg.epochs}")
    epochs = tqdm(range(run.epoch, cfg.epochs), desc=f"{cfg.arch} on {cfg.dataset} "
                  f"({ctx.world_size} processes)", unit="epoch", disable=not show,
                  initial=run.epoch, total=cfg.epochs)
    for _ in epochs:
        batches = train_batches(train_set, cfg.batch_size, run.epoch, cfg.seed, ctx,
                                cfg.augment, device)
        try:  # DDP averages the gradients inside backward(): a lost process surfaces here
            row = teacher_loop._train_epoch(run, cfg, train_set, device, steps, show, batches)
        except RuntimeError as error:
            if _is_group_failure(error):
                raise _peer_lost(error) from error
            raise
        row["train_loss"], row["train_acc"], row["seconds"] = _mean_across(
            [row["train_loss"], row["train_acc"], row["seconds"]], device)
        row["images_per_second"] = steps * cfg.batch_size / row["seconds"]
        run.elapsed += row["seconds"]
        if monitor:
            row.update({f"test_{k}": v for k, v in
                        evaluate_sharded(run.model, test_set, ctx, device).items()})
        run.history.append(row)
        run.epoch += 1
        epochs.set_postfix({k: f"{v:.3f}" for k, v in row.items()
                            if k in ("train_loss", "train_acc", "test_accuracy")})
        if ctx.is_main:
            atomic_save(run.state(cfg), partial_path)
    return _finish(run, cfg, train_set, test_set, device, final_path, partial_path, ctx)


def _finish(run, cfg, train_set, test_set, device, final_path, partial_path, ctx: Context
            ) -> teacher_loop.TrainResult:
    run.trainer = None
    final = evaluate_sharded(run.model, test_set, ctx, device)
    metrics = {**teacher_loop._final_metrics(run, cfg, train_set, test_set, device, final),
               "processes": ctx.world_size}
    run.model.eval()
    if ctx.is_main:
        teacher_loop._write_final(run, cfg, metrics, final_path, partial_path)
    _collective(dist.barrier)  # the others return once the checkpoint exists
    return teacher_loop.TrainResult(run.model, cfg, run.history, metrics, final_path)
