"""The study, end to end: ``python -m cnn2gnn_lib reproduce --dataset fashion-mnist``.

:func:`reproduce` runs the protocol of :mod:`cnn2gnn_lib.study.protocol` stage by stage and
writes, under ``results/<dataset>/``:

* ``results.json``: every number, with the machine, versions, seeds, commit and the wall time of
  every stage (:class:`~cnn2gnn_lib.study.stages.StageLog`);
* ``results.md`` and the plots (:mod:`cnn2gnn_lib.report`), generated from ``results.json``;
* in the repository's own ``results/``, also the summary shipped with the library
  (``cnn2gnn_lib/shipped_results/<dataset>.json``), which chapter 8 reads on Colab.

Every stage is recorded as soon as it finishes and checkpoints go to the artifacts folder, so
running the command again skips finished stages and resumes interrupted training. Chapter 8 of
the book ("Results") reads what it writes.
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

from .data import dataset_info
from .report import publish
from .students import GNN_DESIGNS, MLP_DESIGNS, Design, design_named  # noqa: F401
from .study import KD_ROWS, LABEL_WEIGHTS, Lab, StageLog, StudyPlan, protocol  # noqa: F401
from .study import patient_stage, protocol_stage
from .study.stages import commit
from .training import versions


def run_study(plan: StudyPlan, results_dir: str | os.PathLike = "results",
              artifacts: str | os.PathLike | None = None, device: str | None = None,
              root: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
    """Run (or finish) the study of ``plan``; returns ``results.json``'s content."""
    lab = Lab(plan, artifacts, device, root, progress)
    folder = Path(results_dir) / dataset_info(plan.dataset).name
    log = StageLog(folder / "results.json", plan.to_dict(), progress)
    began, results = time.perf_counter(), log.results
    results.update(machine=versions(), commit=commit(), platform=platform.platform(),
                   mode="fast" if plan.fast else "full", device=str(lab.device))
    teachers = {"teacher": protocol.teacher(lab, log, "teacher")}
    protocol.teacher_logits(lab, log)
    chosen = protocol.sweeps(lab, log)
    rows = protocol.main_rows(lab, log, chosen)
    results.update(chosen=chosen, students=rows)
    gnn_design = GNN_DESIGNS[0]  # the paper design, unless the design study chose another
    if plan.designs:
        results["designs"] = protocol.designs(lab, log, chosen)
        gnn_design = design_named(results["designs"]["finals"]["gnn"]["design"])
    results["protocols"] = protocol_stage.protocol_stage(lab, log, chosen, gnn_design)
    if plan.patient:  # how close an honest student gets: long, so only when asked
        finals = results.get("designs", {}).get("finals", {})
        mlp_design = design_named(finals.get("mlp", {}).get("design", MLP_DESIGNS[0].name))
        results["patient"] = patient_stage.patient_stage(
            lab, log, chosen, gnn_design, mlp_design, finals.get("gnn", {}).get("mode"))
    # the deeper CNN last: only the comparison needs it, so a study cut short (a deep teacher
    # takes hours on a small CPU) has its students' numbers first
    teachers["deep"] = protocol.teacher(lab, log, "deep")
    results["teachers"] = teachers
    results["efficiency"] = protocol.efficiency(lab, log, chosen)
    results["wall_seconds"] = {"this_run": time.perf_counter() - began,
                               "all_stages": log.stage_seconds()}
    log.save()
    publish(results, folder)  # results.md, plots; the shipped summary for results/
    return results


def reproduce(dataset: str = "fashion-mnist", fast: bool | None = None,
              results_dir: str | os.PathLike = "results",
              artifacts: str | os.PathLike | None = None, device: str | None = None,
              root: str | os.PathLike | None = None, progress: bool = True,
              **plan_overrides: Any) -> dict[str, Any]:
    """Run (or finish) the study for ``dataset`` and return ``results.json``'s content."""
    plan = StudyPlan.for_budget(fast, dataset=dataset_info(dataset).name, **plan_overrides)
    return run_study(plan, results_dir, artifacts, device, root, progress)
