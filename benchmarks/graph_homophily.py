"""Does the learned graph join images of the same class more often than kNN on raw pixels?

Trains the two-layer GNN student with the learned graph (cross-entropy only, no teacher, the
epoch chosen on validation) on Fashion-MNIST, then pools the edge homophily of its batch-mode
graphs over the test set, next to the fixed kNN graph on raw pixels built on the same batches
with the same number of neighbours.
Fast mode (CNN2GNN_FAST=1) uses the small budget; full mode the whole dataset.

Run: .venv/bin/python benchmarks/graph_homophily.py [--epochs N] [--batch-size B] [--s S]
"""
from __future__ import annotations

import argparse
import tempfile
import time

from cnn2gnn_lib import config, data, metrics, students, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--s", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    budget = config.budget()
    epochs = args.epochs or budget.student_epochs
    config.seed_everything(args.seed)
    train, test = data.load_splits("fashion-mnist", seed=args.seed)
    x_test = data.flat_features(test)
    print(f"{'fast' if budget.fast else 'full'} mode: {len(train)} train / {len(test)} test "
          f"images, {epochs} epochs, batch {args.batch_size}, s={args.s}", flush=True)

    began = time.perf_counter()
    cfg = training.StudentConfig.for_budget(kind="gnn-learned", hidden=args.hidden, s=args.s,
                                            epochs=epochs, batch_size=args.batch_size,
                                            seed=args.seed)
    with tempfile.TemporaryDirectory() as folder:  # a measurement, not a run to keep
        learned = training.train_student(cfg, out_dir=folder, progress=False).model
    learned.backend = "torch"
    seconds = time.perf_counter() - began
    knn = students.GNNStudent(x_test.shape[1], args.hidden, len(test.classes), s=args.s,
                              graph="knn", backend="torch")
    rows = {
        "learned graph (trained GNN, on X W1)": students.batch_graph_homophily(
            learned, x_test, test.targets, args.batch_size),
        "kNN graph on raw pixels": students.batch_graph_homophily(
            knn, x_test, test.targets, args.batch_size),
    }
    accuracy = metrics.accuracy(students.predict_batches(learned, x_test, args.batch_size),
                                test.targets)
    print(f"trained in {seconds:.0f} s; batch-mode test accuracy of the learned-graph GNN "
          f"{accuracy:.4f}")
    print(f"edge homophily on test batches of {args.batch_size} (weighted, self-loops excluded):")
    for name, value in rows.items():
        print(f"  {name:<40s} {value:.3f}")


if __name__ == "__main__":
    main()
