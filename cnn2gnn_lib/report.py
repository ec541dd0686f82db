"""The study's report: Markdown tables and PNG plots generated from ``results.json``.

Nothing here computes a result; it only formats what :mod:`cnn2gnn_lib.reproduce` measured, so
the tables in ``results/<dataset>/results.md`` and in the book always match the JSON.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .data import dataset_info
from .students import MLP_DESIGNS
from .study.inference import ANCHOR, BATCH
from .study.protocol_stage import protocol_references, protocol_tables
from .study.protocol_stage import protocol_verdict  # noqa: F401  (chapter 7 reads it here)
from .study.readings import readings  # noqa: F401  (chapter 8 reads it here)
from .study.names import (GNN_ANCHOR_MODEL, GNN_COMPACT_ANCHOR_MODEL, STUDENT_NAMES,
                          TEST_ANCHOR, TEST_BATCH, teacher_label)
from .study.formatting import batch_protocol, millions as _millions, number as _number
from .study.formatting import pct as _pct, percent as _percent
from .study.design_tables import design_tables
from .study.patient_stage import patient_curves, patient_gap, patient_tables

# where an editable install (a clone of the book's repository) keeps the committed results
REPOSITORY_RESULTS = Path(__file__).resolve().parent.parent / "results"
# summaries of the committed studies, shipped as package data (ship_summary)
SHIPPED_RESULTS = Path(__file__).resolve().parent / "shipped_results"


def header(results: dict[str, Any]) -> str:
    """Where and how the numbers were made: mode, commit, machine, seeds, wall time."""
    plan, machine = results["plan"], results["machine"]
    return "\n".join([
        f"- mode: {results.get('mode', '?')}; commit: `{results.get('commit', 'unknown')}`",
        f"- machine: {machine.get('machine')} with {machine.get('cpu_count')} CPUs, torch "
        f"{machine.get('torch')}, device {results.get('device')}",
        f"- seeds: {plan['seeds']} (finals: {plan.get('final_seeds', plan['seeds'])}); "
        "wall time of all stages: "
        f"{results['wall_seconds']['all_stages'] / 60:.1f} min"])


def teacher_table(results: dict[str, Any]) -> str:
    lines = ["| teacher | epochs | test accuracy (%) | parameters | training time (min) |",
             "|---|---|---|---|---|"]
    flipped = []
    for record in results["teachers"].values():
        m = record["metrics"]
        lines.append(f"| {teacher_label(record)} | {m['epochs']} | "
                     f"{100 * m['test_accuracy']:.2f} | {m['parameters']:,} | "
                     f"{m['train_seconds'] / 60:.1f} |")
        if m.get("test_time_flip"):
            flipped.append(f"{record['arch']} {100 * m['single_view_test_accuracy']:.2f}%")
    if flipped:
        lines += ["", "Flip-averaged: each teacher answers with its logits averaged over the "
                  "image and its mirror image (two forward passes); from one view alone: "
                  + ", ".join(flipped) + "."]
    return "\n".join(lines)


def student_table(results: dict[str, Any]) -> str:
    lines = ["| student | KD | validation (%) | test, batch mode (%) | test, anchor mode (%) |",
             "|---|---|---|---|---|"]
    for row in results["students"]:
        lines.append(f"| {STUDENT_NAMES[row['student']]} | {'yes' if row['kd'] else 'no'} | "
                     f"{_pct(row.get('val_accuracy'))} | {_pct(row.get(TEST_BATCH))}"
                     f" | {_pct(row.get(TEST_ANCHOR))} |")
    return "\n".join(lines)


def efficiency_table(results: dict[str, Any]) -> str:
    """Cost of every model; anchor-mode rows give their bank and their own test accuracy
    (seed 0), measured beside the speed."""
    lines = ["| model | parameters | MFLOPs per image | images/s | vs teacher | bank | "
             "test accuracy (seed 0) |", "|---|---|---|---|---|---|---|"]
    for r in results["efficiency"]["records"]:
        bank = f"{r['bank_size']:,} ({r.get('bank', 'random')})" if "bank_size" in r else ""
        model = teacher_label(r) if r.get("role") == "teacher" else r["model"]
        lines.append(f"| {model} | {r['parameters']:,} | {_millions(r['flops_per_image'])} | "
                     f"{_number(r['images_per_second'])} | {r['speedup_vs_teacher']:.1f}x | "
                     f"{bank} | {_percent(r.get('test_accuracy'))} |")
    return "\n".join(lines)


def compact_bank_table(results: dict[str, Any]) -> str:
    """The fast anchor mode's trade-off: each k-means bank the efficiency stage measured, its
    speed and its accuracy against the full bank, and the rule that chose the reported one.
    Empty for a study recorded before the stage measured several banks."""
    eff = results["efficiency"]
    banks = eff.get("compact_banks")
    if not banks:
        return ""
    full = next(r for r in eff["records"] if r["model"] == GNN_ANCHOR_MODEL)
    chosen = next(r for r in eff["records"] if r["model"] == GNN_COMPACT_ANCHOR_MODEL)
    lines = ["| bank | MFLOPs per image | images/s | vs teacher | validation (%) | "
             "test (%) | test vs full bank (points) |", "|---|---|---|---|---|---|---|"]
    for r in [full] + banks:
        mark = " (chosen)" if r is not full and r["bank_size"] == chosen["bank_size"] else ""
        kind = "k-means centres" if r["bank"] == "kmeans" else "random training images"
        lines.append(
            f"| {r['bank_size']:,} {kind}{mark} | {_millions(r['flops_per_image'])} | "
            f"{_number(r['images_per_second'])} | "
            f"{r['speedup_vs_teacher']:.1f}x | {_percent(r.get('val_accuracy'))} | "
            f"{_percent(r['test_accuracy'])} | "
            f"{100 * (r['test_accuracy'] - full['test_accuracy']):+.2f} |")
    return ("\n".join(lines) + "\n\nThe fast anchor mode reported above: "
            f"{eff['compact_bank_rule']} (seed 0; every bank timed in the same process).")


def stage_table(results: dict[str, Any]) -> str:
    lines = ["| stage | seconds |", "|---|---|"]
    for name, stage in results["stages"].items():
        lines.append(f"| {name} | {stage['seconds']:.1f} |")
    return "\n".join(lines)


def load_all_results(results_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every finished study that :func:`load_results` can find, by dataset name (the datasets
    of :data:`~cnn2gnn_lib.data.DATASETS`, in its order)."""
    from .data import DATASETS

    found = {}
    for name in DATASETS:
        try:
            results = load_results(name, results_dir)
        except FileNotFoundError:
            continue
        if "wall_seconds" in results:  # a study still running has no sections yet
            found[name] = results
    return found


def overview_table(studies: dict[str, dict[str, Any]]) -> str:
    """The datasets side by side: the teachers, each student row with its seed spread, and the
    final GNN-versus-MLP verdicts (one column per dataset)."""
    names = list(studies)
    header = ["| | " + " | ".join(dataset_info(n).display_name for n in names) + " |",
              "|---|" + "---|" * len(names)]
    rows: dict[str, list[str]] = {}

    def put(label: str, column: int, value: str) -> None:
        rows.setdefault(label, ["-"] * len(names))[column] = value

    for column, results in enumerate(studies.values()):
        for role, record in results["teachers"].items():
            label = ("teacher" if role == "teacher" else "deeper CNN") + f" ({record['arch']})"
            flipped = ", flip-averaged" if record["metrics"].get("test_time_flip") else ""
            put(label, column, f"{100 * record['metrics']['test_accuracy']:.2f}{flipped}")
        for row in results["students"]:
            name = f"{STUDENT_NAMES[row['student']]}{' + KD' if row['kd'] else ''}"
            put(f"{name}, batch mode", column, _pct(row.get(TEST_BATCH)))
            if TEST_ANCHOR in row:
                put(f"{name}, anchor mode", column, _pct(row.get(TEST_ANCHOR)))
        for comparison in results.get("designs", {}).get("finals", {}).get("comparison", []):
            d = comparison["difference"]
            interval = "" if d["ci"] is None else (f" [{100 * d['ci'][0]:+.2f}, "
                                                    f"{100 * d['ci'][1]:+.2f}]")
            put(f"final GNN - MLP, {comparison['name']} (points, 95% interval)", column,
                f"{100 * d['mean']:+.2f}{interval}: {d['verdict']}")
        put("batch mode: how test batches were formed", column, batch_protocol(results))
    body = [f"| {label} | " + " | ".join(values) + " |" for label, values in rows.items()]
    return "\n".join(header + body)


def markdown(results: dict[str, Any]) -> str:
    """The Markdown report of a finished study."""
    plan, chosen = results["plan"], results["chosen"]
    title = dataset_info(plan["dataset"]).display_name
    lines = [f"# CNN2GNN study: {title} ({results.get('mode', '?')} mode)", "",
             "Generated by `python -m cnn2gnn_lib reproduce` from `results.json`; do not edit.",
             "", header(results), "", "## Teachers", "", teacher_table(results), "",
             "## Students", "",
             f"Two-layer students, hidden width {plan['hidden']}, batch {plan['batch_size']}, "
             f"s = {chosen['s']}; KD with T = {chosen['temperature']:g}, alpha = "
             f"{chosen['alpha']:g} (chosen on the {chosen['chosen_on']}). Mean ± standard "
             f"deviation over seeds {plan['seeds']}. Batch mode: {batch_protocol(results)}, "
             "each batch building its own graph; anchor mode: each test image connects to its "
             f"s nearest of a bank of {plan['bank_size']} training images (inductive).", "",
             student_table(results), "",
             "## Sweeps (validation accuracy, seed 0, learned-graph GNN with KD)", ""]
    for name in ("s", "temperature", "alpha"):
        cells = ", ".join(f"{r['value']:g}: {100 * r['val_accuracy']:.2f}"
                          for r in results["sweeps"][name])
        best = max(r["val_accuracy"] for r in results["sweeps"][name])
        tied = [r["value"] for r in results["sweeps"][name] if r["val_accuracy"] == best]
        tie = (f"; {', '.join(f'{v:g}' for v in tied)} tie, and a tie goes to the first value "
               "tried" if len(tied) > 1 else "")
        lines.append(f"- {name}: {cells} (chosen {chosen[name]:g}{tie})")
    eff = results["efficiency"]
    lines += ["", f"## Inference cost ({eff['device']}, {eff['threads']} threads, batch "
              f"{plan['throughput_batch']})", "", efficiency_table(results)]
    banks = compact_bank_table(results)
    if banks:
        lines += ["", "### The fast anchor mode: k-means banks of several sizes", "", banks]
    if "designs" in results:
        lines += design_tables(results)
    if "protocols" in results:
        lines += protocol_tables(results)
    lines += patient_tables(results)
    lines += ["", "## Wall time per stage", "",
              "The wall time of each stage in the run that recorded it. A stage that found its "
              "checkpoints already trained (by an interrupted run, or by another stage with the "
              "same settings) loaded them, and its time is the load; the training columns of "
              "the tables above give training times.", "", stage_table(results)]
    return "\n".join(lines) + "\n"


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """What the book reads of a finished study: everything but the per-image predictions and
    the stages' stored records (kept in ``results.json`` to resume and to rebuild sections)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("predictions", "path")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    slim = strip({k: v for k, v in results.items() if k != "stages"})
    slim["stages"] = {name: {"seconds": stage["seconds"]}
                      for name, stage in results.get("stages", {}).items()}
    return slim


def ship_summary(results: dict[str, Any], folder: str | Path | None = None) -> Path:
    """Write the :func:`summary` of a finished study into the package
    (``cnn2gnn_lib/shipped_results/<dataset>.json``), so a pip-installed library, on Colab
    say, shows the committed study."""
    if "wall_seconds" not in results:
        raise ValueError("the study is not finished; only finished studies ship")
    path = Path(folder or SHIPPED_RESULTS) / f"{dataset_info(results['plan']['dataset']).name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(results), indent=1) + "\n")
    return path


def load_results(dataset: str = "fashion-mnist", results_dir: str | Path | None = None
                 ) -> dict[str, Any]:
    """``results/<dataset>/results.json`` as written by the reproduction command.

    Looks in ``results_dir``, then ``$CNN2GNN_RESULTS``, ``./results``, ``../results`` (a
    notebook in ``notebooks/``) and the results folder of the repository this library was
    installed from; then the summary shipped with the library (:func:`ship_summary`). Raises
    ``FileNotFoundError`` naming every place it looked.
    """
    name = dataset_info(dataset).name
    places = [Path(p) for p in (results_dir, os.environ.get("CNN2GNN_RESULTS")) if p]
    places += [Path("results"), Path("..") / "results", REPOSITORY_RESULTS]
    for place in places:
        path = place / name / "results.json"
        if path.is_file():
            results = json.loads(path.read_text())
            results["path"] = str(path)
            return results
    shipped = SHIPPED_RESULTS / f"{name}.json"
    if results_dir is None and shipped.is_file():
        results = json.loads(shipped.read_text())
        results["path"] = f"{shipped.name}, shipped with cnn2gnn_lib (the committed study)"
        return results
    places.append(SHIPPED_RESULTS)
    looked = ", ".join(str(p / name / "results.json") for p in places)
    raise FileNotFoundError(f"no results of the {name} study in {looked}; run `python -m "
                            f"cnn2gnn_lib reproduce --dataset {name}` (add --fast for a "
                            "minutes-long version) or clone the book's repository")


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """Every figure of the report, as ``file name -> matplotlib Figure`` (a notebook shows
    them; :func:`write_report` saves them)."""
    # plotting imports pyplot: only here, so write_report can choose the Agg backend first
    from .plotting import plot_efficiency, plot_learning_curves, plot_sweep

    curves = {}
    for record in results["teachers"].values():
        history = record["history"]
        if history and "test_accuracy" in history[0]:
            curves[f"{record['arch']} (test, monitored)"] = (
                [h["epoch"] for h in history], [h["test_accuracy"] for h in history])
    for row in results["students"]:
        history = row["per_seed"][0]["history"]
        name = f"{STUDENT_NAMES[row['student']]}{' + KD' if row['kd'] else ''} (validation)"
        curves[name] = ([h["epoch"] for h in history], [h["val_accuracy"] for h in history])
    found = {"learning_curves.png": plot_learning_curves(curves, title="learning curves")}
    chosen = results["chosen"]
    for name, log_x in (("s", False), ("temperature", True), ("alpha", False)):
        found[f"sweep_{name}.png"] = plot_sweep(results["sweeps"][name], name, chosen[name],
                                                log_x)
    found["efficiency.png"] = plot_efficiency(results)
    if "protocols" in results:
        from .plotting import plot_protocols

        found["protocols.png"] = plot_protocols(
            results["protocols"], protocol_references(results),
            title="test accuracy by protocol and batch size (seed 0)")
    if results.get("patient"):
        found["patient_curves.png"] = plot_learning_curves(
            patient_curves(results), title="patient distillation: validation accuracy, seed 0")
        from .plotting import plot_gap

        found["patient_gap.png"] = plot_gap(
            patient_gap(results), title="the gap to the teacher, before and after (test)")
    if "designs" in results:
        from .plotting import BEST_MODE, plot_designs, plot_per_class

        designs = results["designs"]
        mlp = next(r for r in designs["records"] if r["design"] == MLP_DESIGNS[0].name)
        found["designs.png"] = plot_designs(
            [r for r in designs["records"] if r["student"] != "mlp"],
            (BATCH.name, ANCHOR.name, BEST_MODE), reference=mlp["val"][BATCH.name],
            title="GNN designs (validation, seed 0)")
        evidence = designs["finals"]["evidence"]
        found["per_class.png"] = plot_per_class(
            evidence["classes"], {"GNN (chosen design)": evidence["per_class_gnn"],
                                  "MLP (chosen design)": evidence["per_class_mlp"]},
            title="per-class test accuracy, seed 0")
    return found


def write_report(results: dict[str, Any], folder: str | Path) -> list[Path]:
    """Write ``results.md`` and the plots into ``folder``; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    folder = Path(folder)
    written = [folder / "results.md"]
    written[0].write_text(markdown(results))
    for filename, figure in figures(results).items():
        figure.savefig(folder / filename, dpi=110)
        plt.close(figure)
        written.append(folder / filename)
    return written


def publish(results: dict[str, Any], folder: str | Path) -> list[Path]:
    """:func:`write_report`, and for a finished study in the repository's own ``results/``
    also :func:`ship_summary` (the committed study travels with the library, for Colab);
    returns the paths written. What ``reproduce`` does at its end and ``report`` does again."""
    written = write_report(results, folder)
    if Path(folder).resolve().parent == REPOSITORY_RESULTS.resolve() and \
            "wall_seconds" in results:
        written.append(ship_summary(results))
    return written
