"""The command line: ``python -m cnn2gnn_lib <command>``.

Commands:

* ``train-teacher``: train (or reuse) a CNN teacher and print its test accuracy; under
  ``torchrun --nproc_per_node=N`` it trains with N processes
  (:mod:`cnn2gnn_lib.training.distributed`);
* ``reproduce``: the whole study (teachers, sweeps, students, cost) into ``results/<dataset>/``;
* ``report``: write ``results.md`` and the plots again from a study's ``results.json`` (after the
  report's code changed), without running any stage;
* ``info``: versions, device and GPU, mixed precision, fast mode, DGL, where the data is and
  whether the artifact and cache folders can be written (:func:`cnn2gnn_lib.book.environment`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import book, config, data, report, teachers, training
from .reproduce import reproduce
from .training import distributed


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:1, mps or auto (default: $CNN2GNN_DEVICE or auto)")
    parser.add_argument("--data-root", default=None,
                        help="folder holding the dataset files (default: search the usual places)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", dest="fast", action="store_true", default=None,
                      help="small data and few epochs (default when CNN2GNN_FAST=1 or CI is set)")
    mode.add_argument("--full", dest="fast", action="store_false",
                      help="whole dataset and the full number of epochs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cnn2gnn_lib",
        description="CNN2GNN book companion: train CNN teachers on real images, run the "
                    "study that distils them into two-layer GNN and MLP students, and write "
                    "its report.",
        epilog="Example: python -m cnn2gnn_lib train-teacher --dataset fashion-mnist "
               "--arch resnet20")
    commands = parser.add_subparsers(dest="command", metavar="command")

    _add_teacher_command(commands)
    _add_study_commands(commands)

    info = commands.add_parser("info", help="show versions, device, data location and DGL status")
    _add_common(info)
    return parser


def _add_teacher_command(commands) -> None:
    teacher = commands.add_parser(
        "train-teacher", help="train a CNN teacher (reuses a finished run with the same settings)",
        description="Train a CNN teacher and report its test accuracy. A finished run with the "
                    "same settings is loaded instead of retrained; an interrupted one resumes.")
    teacher.add_argument("--dataset", default="fashion-mnist", choices=sorted(data.DATASETS))
    teacher.add_argument("--arch", default="resnet20", choices=teachers.ARCHITECTURES)
    teacher.add_argument("--epochs", type=int, default=None,
                         help="epochs (default: the mode's budget, "
                              f"{config.FULL_BUDGET.teacher_epochs} full / "
                              f"{config.FAST_BUDGET.teacher_epochs} fast)")
    teacher.add_argument("--batch-size", type=int, default=128)
    teacher.add_argument("--lr", type=float, default=0.1,
                         help="peak learning rate for batch 128, scaled linearly (default 0.1)")
    teacher.add_argument("--weight-decay", type=float, default=5e-4)
    teacher.add_argument("--schedule", choices=("onecycle", "cosine"), default="onecycle")
    teacher.add_argument("--seed", type=int, default=0)
    teacher.add_argument("--out", default=None,
                         help="artifacts folder (default: $CNN2GNN_ARTIFACTS or ./artifacts)")
    teacher.add_argument("--retrain", action="store_true",
                         help="train again even if a finished checkpoint exists")
    teacher.add_argument("--no-progress", action="store_true", help="hide progress bars")
    teacher.add_argument("--json", action="store_true", help="also print the metrics as JSON")
    _add_common(teacher)


def _add_study_commands(commands) -> None:
    """``reproduce`` and ``report``."""
    study = commands.add_parser(
        "reproduce", help="run the whole study and write results/<dataset>/",
        description="Train the teachers, sweep s/T/alpha on validation, train every student "
                    "over several seeds, measure inference cost, and write results.json, "
                    "results.md and plots under results/<dataset>/. Finished stages are reused.")
    study.add_argument("--dataset", default="fashion-mnist", choices=sorted(data.DATASETS))
    study.add_argument("--results", default="results", help="results folder (default: results)")
    study.add_argument("--out", default=None,
                       help="artifacts folder for checkpoints (default: ./artifacts)")
    study.add_argument("--seeds", type=int, nargs="+", default=None,
                       help="student seeds (default: 0 1 2)")
    study.add_argument("--deep-arch", default=None, choices=teachers.ARCHITECTURES,
                       help="the deeper CNN of the comparison (default: resnet32)")
    study.add_argument("--teacher-epochs", type=int, default=None)
    study.add_argument("--deep-epochs", type=int, default=None)
    study.add_argument("--student-epochs", type=int, default=None)
    study.add_argument("--teacher-flip", choices=("yes", "no"), default=None,
                       help="teachers answer flip-averaged (default: the dataset's setting; "
                            "yes for cifar10-jpeg)")
    study.add_argument("--patient", action="store_true",
                       help="also run the patient stage: patient distillation and the label "
                            "trick on every final seed (long: hours on a CPU in full mode)")
    study.add_argument("--patient-epochs", type=int, default=None,
                       help="epochs of each patient run (default: 100 full, 3 fast)")
    study.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_common(study)

    rewrite = commands.add_parser(
        "report", help="write results.md and the plots again from results.json",
        description="Render results/<dataset>/results.md and its plots from the study's "
                    "results.json, as the reproduce command writes them at its end; no stage "
                    "runs and results.json is not changed.")
    rewrite.add_argument("--dataset", default="fashion-mnist", choices=sorted(data.DATASETS))
    rewrite.add_argument("--results", default="results", help="results folder (default: results)")


def _train_teacher(args: argparse.Namespace) -> int:
    cfg = training.TeacherConfig.for_budget(
        args.fast, dataset=args.dataset, arch=args.arch, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        schedule=args.schedule, seed=args.seed)
    ctx = distributed.context()
    if ctx is not None:  # started by torchrun with several processes
        return _train_teacher_distributed(args, cfg, ctx)
    device = config.pick_device(args.device)
    _announce(args, cfg, device)
    runner = training.train_teacher if args.retrain else training.train_or_load
    kwargs = dict(device=device, out_dir=args.out, root=args.data_root,
                  progress=not args.no_progress)
    if args.retrain:
        kwargs["resume"] = False
    _report_teacher(args, cfg, runner(cfg, **kwargs))
    return 0


def _announce(args: argparse.Namespace, cfg, device, processes: int = 1) -> None:
    mode = "fast" if config.budget(args.fast).fast else "full"
    where = (f"{processes} processes on {device.type}, {cfg.batch_size // processes} images "
             f"each per step" if processes > 1 else str(device))
    print(f"training {cfg.arch} on {cfg.dataset} ({mode} mode, {cfg.epochs} epochs, "
          f"batch {cfg.batch_size}) on {where}", flush=True)


def _report_teacher(args: argparse.Namespace, cfg, result) -> None:
    m = result.metrics
    if result.loaded:
        print("loaded the finished checkpoint of these settings (use --retrain to train again)")
    print(f"{cfg.arch} on {cfg.dataset}: test accuracy {m['test_accuracy']:.4f} "
          f"({m['test_images']} test images) after {m['epochs']} epochs, "
          f"{m['train_seconds'] / 60:.1f} min training; checkpoint {result.path}")
    if args.json:
        print(json.dumps({"config": cfg.to_dict(), "metrics": m}, indent=2))


def _train_teacher_distributed(args: argparse.Namespace, cfg, ctx) -> int:
    """``torchrun -m cnn2gnn_lib train-teacher``: rank 0 looks for a finished run and reports;
    otherwise every process trains its share (:mod:`cnn2gnn_lib.training.distributed`)."""
    device = distributed.start(ctx, args.device)
    try:
        distributed.local_batch_size(cfg.batch_size, ctx)  # fail before any work
        found = None
        if ctx.is_main and not args.retrain:
            found = distributed.find_finished(cfg, device, args.out, not args.no_progress)
        if ctx.is_main:
            _announce(args, cfg, device, ctx.world_size)
        if not distributed.agree(found is not None, ctx):
            found = distributed.train_teacher_distributed(
                cfg, ctx, device, args.out, args.data_root, not args.no_progress,
                resume=not args.retrain)
        if ctx.is_main:
            _report_teacher(args, cfg, found)
    finally:
        distributed.stop()
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    results = reproduce(args.dataset, args.fast, args.results, args.out, args.device,
                        args.data_root, not args.no_progress,
                        seeds=tuple(args.seeds) if args.seeds else None,
                        deep_arch=args.deep_arch, teacher_epochs=args.teacher_epochs,
                        deep_epochs=args.deep_epochs, student_epochs=args.student_epochs,
                        teacher_flip=None if args.teacher_flip is None
                        else args.teacher_flip == "yes",
                        patient=args.patient or None, patient_epochs=args.patient_epochs)
    folder = f"{args.results}/{results['plan']['dataset']}"
    print(f"study finished: {folder}/results.json and {folder}/results.md "
          f"({results['wall_seconds']['all_stages'] / 60:.1f} min of stages)")
    return 0


def _report(args: argparse.Namespace) -> int:
    folder = Path(args.results) / data.dataset_info(args.dataset).name
    path = folder / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"no study at {path}: run `python -m cnn2gnn_lib reproduce "
                                f"--dataset {args.dataset}` first")
    results = json.loads(path.read_text())
    written = report.publish(results, folder)
    print(f"report: wrote {', '.join(p.name for p in written)} in {folder}")
    return 0


def _info(args: argparse.Namespace) -> int:
    book.check_environment(device=args.device, root=args.data_root, fast=args.fast)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "train-teacher":
            return _train_teacher(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "report":
            return _report(args)
        return _info(args)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
