"""Inference throughput: CNN teacher against the two-layer students, in one process.

Prints images/s, FLOPs per image and parameters for the ResNet teacher(s) and for the MLP and
GNN students (batch mode on both message-passing backends, anchor mode with a bank of training
images) on the same batch of real Fashion-MNIST test images, and each one's ratio to the
teacher. Throughput does not depend on trained weights, so fresh models are used.

Run: .venv/bin/python benchmarks/bench_inference.py [--batch-size 256] [--bank 10000]
"""
from __future__ import annotations

import argparse

import torch

from cnn2gnn_lib import data, efficiency, students, teachers, training
from cnn2gnn_lib.dgl_bridge import dgl_available


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--bank", type=int, default=10000)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--s", type=int, default=10)
    parser.add_argument("--teachers", nargs="+", default=["resnet20", "resnet56"])
    args = parser.parse_args()
    info = training.versions()
    print(f"inference benchmark: torch {info['torch']}, {info['cpu_count']} CPUs, "
          f"{info['torch_threads']} threads, batch {args.batch_size}")
    test = data.load_dataset("fashion-mnist", "test")
    batch = test.select(torch.arange(args.batch_size))
    images = (batch.images.float() / 255).contiguous(memory_format=torch.channels_last)
    flat = data.flat_features(batch)
    train = data.load_dataset("fashion-mnist", "train")
    pixels, classes = flat.shape[1], len(test.classes)
    bank_x = data.flat_features(data.balanced_subset(train, args.bank // classes))

    records = []
    for arch in args.teachers:
        model = teachers.build_teacher(arch, test.info.in_channels, classes).eval()
        model = model.to(memory_format=torch.channels_last)
        records.append(efficiency.profile(arch, model, images))
    mlp = students.MLPStudent(pixels, args.hidden, classes)
    records.append(efficiency.profile("MLP student", mlp, flat))
    backends = ["torch"] + (["dgl"] if dgl_available() else [])
    for backend in backends:
        gnn = students.GNNStudent(pixels, args.hidden, classes, s=args.s, backend=backend)
        records.append(efficiency.profile(f"GNN student, batch mode ({backend})", gnn, flat))
    gnn = students.GNNStudent(pixels, args.hidden, classes, s=args.s, backend="torch").eval()
    bank = gnn.build_anchor_bank(bank_x)
    records.append(efficiency.profile(f"GNN student, anchor mode (bank {bank.size})", gnn, flat,
                                      run=lambda x: gnn.predict_anchor(x, bank),
                                      flops=efficiency.anchor_flops_per_image(gnn, bank, flat)))
    teacher_rate = records[0]["images_per_second"]
    print(f"{'model':<42s} {'params':>10s} {'FLOPs/img':>12s} {'images/s':>10s} "
          f"{'x ' + args.teachers[0]:>12s}")
    for r in records:
        print(f"{r['model']:<42s} {r['parameters']:>10,d} {r['flops_per_image']:>12,.0f} "
              f"{r['images_per_second']:>10,.0f} {r['images_per_second'] / teacher_rate:>11.1f}x")


if __name__ == "__main__":
    main()
