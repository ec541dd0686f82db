"""Does a second process speed up training here? 1 and 2 processes side by side under torchrun.

Runs :func:`cnn2gnn_lib.scaling.measure`: a fixed number of training steps of the ResNet-20
teacher (DDP) and of the GNN student (one graph across processes, and local graphs), with 1 and
then 2 processes, and prints wall time and images per second of each, with the speed-up over one
process. Run it with nothing else busy on the machine.

Run: .venv/bin/python benchmarks/bench_distributed.py [--processes 1 2] [--teacher-steps 20]
     [--student-steps 40] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform

from cnn2gnn_lib import scaling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--teacher-steps", type=int, default=20)
    parser.add_argument("--student-steps", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="also print the records as JSON")
    args = parser.parse_args()
    records = scaling.measure(args.processes, teacher_steps=args.teacher_steps,
                              student_steps=args.student_steps)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU used")
    print(scaling.table(records))
    if args.json:
        print(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
