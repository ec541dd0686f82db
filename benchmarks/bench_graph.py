"""Benchmark of the graph head and the chunked builder on real Fashion-MNIST images.

Prints, for batches of B in {256, 1024, 4096} standardised 784-pixel images:
  * the time of the whole head (graph.learn_graph: distances, adaptive neighbours, symmetrise,
    self-loops, normalise), median of several runs;
  * the floor: a bare torch.cdist + torch.topk(s + 1) on the same input;
  * their ratio.
Then builds the adaptive-neighbour graph of all 60,000 training images with
graph.chunked_adaptive_graph in a child process and prints its time and peak memory (the
child's maximum resident set size, so the figure covers everything the build touched).

Run: .venv/bin/python benchmarks/bench_graph.py   (about 2-3 minutes on 2 CPU cores)
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

from cnn2gnn_lib import data, graph, training


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_head(sizes, s: int, repeats: int) -> list[dict]:
    train = data.load_dataset("fashion-mnist", "train")
    rows = []
    for size in sizes:
        x = data.flat_features(data.balanced_subset(train, size // 10 + 1))[:size]
        head = _median_seconds(lambda: graph.learn_graph(x, s), repeats)
        floor = _median_seconds(lambda: torch.topk(torch.cdist(x, x), s + 1, largest=False),
                                repeats)
        rows.append({"B": size, "head_s": head, "floor_s": floor, "ratio": head / floor})
        print(f"B={size:5d}  head {head * 1e3:8.1f} ms   cdist+topk floor {floor * 1e3:8.1f} ms"
              f"   ratio {head / floor:4.2f}x", flush=True)
    return rows


def bench_chunked(s: int, chunk_size: int) -> dict:
    train = data.load_dataset("fashion-mnist", "train")
    x = data.flat_features(train)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    built = graph.chunked_adaptive_graph(x, s, chunk_size=chunk_size, progress=True)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    homophily = graph.edge_homophily(built, train.targets)
    return {"nodes": built.num_nodes, "edges": built.num_edges, "seconds": seconds,
            "peak_rss_mb": peak, "rss_before_build_mb": before, "edge_homophily": homophily,
            "chunk_size": chunk_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--s", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--skip-chunked", action="store_true")
    parser.add_argument("--chunked-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chunked_child:
        print("RESULT " + json.dumps(bench_chunked(args.s, args.chunk_size)), flush=True)
        return
    info = training.versions()
    print(f"graph head benchmark: torch {info['torch']}, {info['cpu_count']} CPUs, "
          f"{info['torch_threads']} threads, s={args.s}")
    bench_head(args.sizes, args.s, args.repeats)
    if args.skip_chunked:
        return
    child = subprocess.run([sys.executable, __file__, "--chunked-child", "--s", str(args.s),
                            "--chunk-size", str(args.chunk_size)], capture_output=True,
                           text=True, check=True)
    result = json.loads(child.stdout.split("RESULT ", 1)[1])
    print(f"chunked builder: {result['nodes']} nodes, {result['edges']} edges in "
          f"{result['seconds']:.1f} s (chunks of {result['chunk_size']} rows); peak memory "
          f"{result['peak_rss_mb']:.0f} MB (process RSS; {result['rss_before_build_mb']:.0f} MB "
          f"before the build); edge homophily of this raw-pixel graph "
          f"{result['edge_homophily']:.3f}")


if __name__ == "__main__":
    main()
