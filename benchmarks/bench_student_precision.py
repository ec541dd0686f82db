"""Does bfloat16 autocast speed up student training on this CPU? float32 and bfloat16, side by side.

The students train in float32 everywhere today (:mod:`cnn2gnn_lib.training.precision` chooses
mixed precision on GPUs only). CPUs with AVX-512 BF16 run bfloat16 matrix products natively,
and a student step is mostly two matrix products (``X W_1`` with 3,072 inputs on colour
images) plus the graph head. This benchmark trains the MLP and the learned-graph GNN students
(the paper design) for the same seeded batches of real images twice in one process, once in
float32 and once under ``torch.autocast("cpu", dtype=torch.bfloat16)``, and prints for each the
images per second over the timed steps and the mean loss of the last steps, then the speed
ratio. A ratio says nothing about accuracy: adopting bfloat16 for students would need a full
run in both precisions.

Run: .venv/bin/python benchmarks/bench_student_precision.py [--dataset cifar10-jpeg] [--steps 40]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from cnn2gnn_lib import data
from cnn2gnn_lib.data import DatasetError
from cnn2gnn_lib.students import GNNStudent, MLPStudent


def run(kind: str, features: torch.Tensor, labels: torch.Tensor, batches: list[torch.Tensor],
        warmup: int, bf16: bool, hidden: int = 512) -> dict:
    torch.manual_seed(0)
    classes = int(labels.max()) + 1
    model = (MLPStudent(features.shape[1], hidden, classes) if kind == "mlp"
             else GNNStudent(features.shape[1], hidden, classes)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(rows: torch.Tensor) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(features[rows])
        loss = F.cross_entropy(logits.float(), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    for rows in batches[:warmup]:
        step(rows)
    began = time.perf_counter()
    losses = [step(rows) for rows in batches[warmup:]]
    seconds = time.perf_counter() - began
    seen = sum(len(rows) for rows in batches[warmup:])
    tail = losses[-10:]
    return {"student": kind, "precision": "bfloat16" if bf16 else "float32",
            "images_per_second": seen / seconds, "final_loss": sum(tail) / len(tail)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10-jpeg")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    try:
        dataset = data.load_dataset(args.dataset, "train")
    except DatasetError as error:
        print(f"{error}; using fashion-mnist")
        dataset = data.load_dataset("fashion-mnist", "train")
    features, labels = data.flat_features(dataset), dataset.targets
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(labels), generator=generator)
    batches = list(order[:(args.warmup + args.steps) * args.batch_size].split(args.batch_size))
    print(f"{dataset.name}: {features.shape[1]} inputs, batch {args.batch_size}, {args.steps} "
          f"timed steps, {torch.get_num_threads()} threads")
    for kind in ("mlp", "gnn"):
        found = [run(kind, features, labels, batches, args.warmup, bf16) for bf16 in (False, True)]
        for r in found:
            print(f"  {r['student']:<4}{r['precision']:<10}{r['images_per_second']:>10,.0f} "
                  f"images/s   loss over the last 10 steps {r['final_loss']:.4f}")
        print(f"  {kind}: bfloat16 / float32 speed = "
              f"{found[1]['images_per_second'] / found[0]['images_per_second']:.2f}x")


if __name__ == "__main__":
    main()
