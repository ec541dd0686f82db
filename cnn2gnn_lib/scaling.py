"""What more processes buy: training throughput with 1, 2, ... processes under ``torchrun``
(chapter 9, "Scaling out"; ``benchmarks/bench_distributed.py`` prints the same table).

:func:`measure` starts ``torchrun --nproc_per_node=N -m cnn2gnn_lib.scaling`` for each ``N``.
Every process runs a fixed number of training steps on real Fashion-MNIST images, taking its
``1 / N`` of each global batch, for three workloads:

* ``teacher``: ResNet-20, SGD, gradients averaged by ``DistributedDataParallel``;
* ``gnn-global``: the paper's GNN student with one batch graph across the processes
  (:mod:`cnn2gnn_lib.students.global_graph`), the same model as one process;
* ``gnn-local``: the same student where each process builds the graph of its own images only
  (plain data parallelism: a smaller graph, another model).

Rank 0 reports the wall time of the timed steps (after warm-up steps) and the images per second
of the whole run. One process uses all of the CPU's threads; ``torchrun`` gives each of several
processes one thread unless ``OMP_NUM_THREADS`` says otherwise.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from . import data
from .students import GNNStudent
from .teachers import build_teacher
from .training import distributed
from .training.distributed_student import average_gradients, process_logits

WORKLOADS = ("teacher", "gnn-global", "gnn-local")
_TAG = "SCALING "


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timed_steps(step, rows_of_step, warmup: int, steps: int, ctx) -> float:
    for index in range(warmup):
        step(rows_of_step(index))
    if ctx.world_size > 1:
        torch.distributed.barrier()
    began = time.perf_counter()
    for index in range(warmup, warmup + steps):
        step(rows_of_step(index))
    if ctx.world_size > 1:
        torch.distributed.barrier()
    return time.perf_counter() - began


def _teacher_step(dataset, ctx):
    torch.manual_seed(0)
    model = build_teacher("resnet20", 1, 10, dataset.info.mean, dataset.info.std)
    model = model.to(memory_format=torch.channels_last)
    trainer = (torch.nn.parallel.DistributedDataParallel(model) if ctx.world_size > 1
               else model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(rows):
        images = dataset.images[rows].float().div_(255.0)
        images = images.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(trainer(images), dataset.targets[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def _student_step(dataset, ctx, global_graph: bool):
    torch.manual_seed(0)
    features = data.flat_features(dataset)
    student = GNNStudent(features.shape[1], 512, 10, s=10, backend="torch")
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)

    def step(rows):
        x, y = features[rows], dataset.targets[rows]
        logits = (process_logits(student, x, ctx, global_graph) if ctx.world_size > 1
                  else student(x))
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if ctx.world_size > 1:
            average_gradients(student, ctx)
        optimizer.step()
    return step


def _worker(args: argparse.Namespace) -> None:
    ctx = distributed.context() or distributed.Context()
    if ctx.world_size > 1:
        distributed.start(ctx, "cpu")
    dataset = data.load_dataset("fashion-mnist", "train")
    for workload in args.workloads:
        batch = args.teacher_batch if workload == "teacher" else args.student_batch
        steps = args.teacher_steps if workload == "teacher" else args.student_steps
        size = distributed.local_batch_size(batch, ctx)
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))

        def rows_of_step(index, batch=batch, size=size, order=order):
            start = (index * batch) % (len(order) - batch) + ctx.rank * size
            return order[start:start + size]

        step = (_teacher_step(dataset, ctx) if workload == "teacher"
                else _student_step(dataset, ctx, workload == "gnn-global"))
        seconds = _timed_steps(step, rows_of_step, args.warmup, steps, ctx)
        if ctx.is_main:
            print(_TAG + json.dumps({
                "workload": workload, "processes": ctx.world_size,
                "threads_per_process": torch.get_num_threads(), "steps": steps,
                "global_batch": batch, "seconds": round(seconds, 3),
                "images_per_second": round(steps * batch / seconds, 1)}), flush=True)
    distributed.stop()


def measure(processes=(1, 2), workloads=WORKLOADS, teacher_steps: int = 20,
            student_steps: int = 40, teacher_batch: int = 128, student_batch: int = 256,
            warmup: int = 3, timeout: float = 1800) -> list[dict]:
    """One record per workload and process count (see the module docstring)."""
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        raise ValueError(f"unknown workloads {unknown}; choose from {WORKLOADS}")
    records = []
    for count in processes:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={count}",
                   f"--master_port={_free_port()}", "-m", "cnn2gnn_lib.scaling", "--worker",
                   "--teacher-steps", str(teacher_steps), "--student-steps", str(student_steps),
                   "--teacher-batch", str(teacher_batch), "--student-batch", str(student_batch),
                   "--warmup", str(warmup), "--workloads", *workloads]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"the {count}-process run failed:\n{done.stderr[-3000:]}")
        records += [json.loads(line[len(_TAG):]) for line in done.stdout.splitlines()
                    if line.startswith(_TAG)]
    return records


def table(records: list[dict]) -> str:
    """The records as a text table, with each workload's speed-up over one process."""
    single = {r["workload"]: r["images_per_second"] for r in records if r["processes"] == 1}
    lines = [f"{'workload':<11} {'processes':>9} {'threads':>7} {'steps':>5} {'batch':>5} "
             f"{'seconds':>8} {'images/s':>9} {'vs 1':>6}"]
    for r in records:
        base = single.get(r["workload"])
        ratio = f"{r['images_per_second'] / base:.2f}x" if base else "-"
        lines.append(f"{r['workload']:<11} {r['processes']:>9} {r['threads_per_process']:>7} "
                     f"{r['steps']:>5} {r['global_batch']:>5} {r['seconds']:>8.2f} "
                     f"{r['images_per_second']:>9.1f} {ratio:>6}")
    return "\n".join(lines)


def _parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="one process of a scaling measurement")
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--student-steps", type=int, default=40)
    parser.add_argument("--teacher-batch", type=int, default=128)
    parser.add_argument("--student-batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _parse()
    if arguments.worker:
        _worker(arguments)
    else:
        print(table(measure(workloads=arguments.workloads, teacher_steps=arguments.teacher_steps,
                            student_steps=arguments.student_steps)))
