"""Does ``torch.compile`` speed up teacher training here? Eager and compiled, side by side.

Trains the same ResNet (same seed, same batches, same augmentation) for a number of SGD steps
twice in one process: once eager and once through ``torch.compile`` (inductor). Prints, for
each: the compile / first-step time, the images per second over the timed steps (after
warm-up) and the training loss at the end, then the speed ratio. The steps run on real images
(CIFAR-10 JPEG copy when ``CNN2GNN_DATA`` holds it, else Fashion-MNIST).

The library adopts ``torch.compile`` for teachers only where this ratio is at least 1.25 and the
accuracy is unchanged (see :mod:`cnn2gnn_lib.training.teacher`).

Run: .venv/bin/python benchmarks/bench_teacher_compile.py [--arch resnet20] [--steps 60]
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from cnn2gnn_lib import data
from cnn2gnn_lib.data import DatasetError
from cnn2gnn_lib.teachers import build_teacher


def _batches(dataset, batch_size: int, steps: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    out = []
    for images, labels in data.iterate_batches(dataset, batch_size, shuffle=True, augment=True,
                                               generator=generator, drop_last=True):
        out.append((images.contiguous(memory_format=torch.channels_last), labels))
        if len(out) == steps:
            return out
    raise ValueError(f"{dataset} has fewer than {steps} batches of {batch_size}")


def run(dataset, arch: str, batches, warmup: int, compiled: bool) -> dict:
    torch.manual_seed(0)
    info = dataset.info
    model = build_teacher(arch, info.in_channels, info.num_classes, info.mean, info.std)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    forward = torch.compile(model) if compiled else model

    def step(images, labels):
        loss = F.cross_entropy(forward(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    began = time.perf_counter()
    for images, labels in batches[:warmup]:
        step(images, labels)
    warm_seconds = time.perf_counter() - began
    began = time.perf_counter()
    losses = [step(images, labels) for images, labels in batches[warmup:]]
    seconds = time.perf_counter() - began
    seen = sum(len(labels) for _, labels in batches[warmup:])
    return {"mode": "compiled" if compiled else "eager", "warmup_seconds": round(warm_seconds, 1),
            "images_per_second": round(seen / seconds, 1),
            "final_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--steps", type=int, default=60, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    try:
        dataset = data.load_dataset("cifar10-jpeg", "train")
    except DatasetError:
        dataset = data.load_dataset("fashion-mnist", "train")
    batches = _batches(dataset, args.batch_size, args.warmup + args.steps, seed=0)
    print(f"{args.arch} on {dataset.name}, batch {args.batch_size}, {args.steps} timed steps, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    rows = [run(dataset, args.arch, batches, args.warmup, compiled) for compiled in (False, True)]
    for row in rows:
        print(json.dumps(row))
    print(f"speed-up of torch.compile: "
          f"{rows[1]['images_per_second'] / rows[0]['images_per_second']:.2f}x")


if __name__ == "__main__":
    main()
