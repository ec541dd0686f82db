"""How close can an honest two-layer student get? Patient distillation and the label trick.

The stage (run by :func:`cnn2gnn_lib.reproduce.run_study` when the plan's ``patient`` is on)
trains three students with the same budget: ``patient_epochs`` epochs over ``patient_views``
fixed views of every training image (blended in pairs with mixup ``patient_mixup``), the
teacher's answer cached on every view (:func:`cnn2gnn_lib.training.cache_view_logits`),
``alpha = 1`` and the chosen ``T`` (Beyer et al., CVPR 2022: the student matches the teacher's
function on the very view it sees, for a long time):

* ``MLP``: the MLP design the study chose;
* ``GNN``: the GNN design the study chose;
* ``GNN + label trick``: that GNN with the label trick (Wang et al. 2021): a share
  ``patient_label_trick`` of each training batch carries its label as input.

Every student is judged on validation in an inductive protocol after every epoch (the MLP alone,
a GNN in anchor mode), so each run's history is its learning curve against the distillation
budget. The test split is read once per finished run, on every final seed, under the inductive
protocols only, and :func:`patient_comparisons` pairs GNN and MLP seed by seed under the same
protocol and the same labelled help. Chapter 8 of the book ("Results") reads it.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .. import training
from ..graph.heads import make_head
from ..metrics import accuracy
from ..students import Design
from .inference import ANCHOR, BATCH, LABEL_WEIGHTS, MODES, label_vote as vote_mode
from .lab import Lab
from .stages import StageLog
from .formatting import difference_cells, pct
from .protocol import compare
from .stats import mean_std

PATIENT_ROLES = ("MLP", "GNN", "GNN + label trick")


def patient_config(lab: Lab, role: str, design: Design, chosen: dict[str, Any], seed: int
                   ) -> training.StudentConfig:
    """The configuration of one patient run: the chosen design of ``role`` with the plan's
    patient budget. A design's own view option (``augment_views``) gives way to the patient
    views, and the label trick drops relation distillation, with which it does not combine."""
    plan = lab.plan
    kind = "mlp" if role == "MLP" else "gnn-learned"
    cfg = lab.design_config(kind, design, chosen, seed, final=True)
    trick = role == "GNN + label trick"
    return dataclasses.replace(
        cfg, epochs=plan.patient_epochs, alpha=1.0, augment_views=0,
        patient_views=plan.patient_views, mixup=plan.patient_mixup,
        label_trick=plan.patient_label_trick if trick else 0.0,
        relation_weight=0.0 if trick else cfg.relation_weight,
        validation=None if kind == "mlp" else "anchor")


def patient_modes(role: str, vote: str) -> list[str]:
    """The inductive modes a role is tested in: alone (the MLP as it is, a GNN in anchor mode)
    and with the bank's label vote ``vote``."""
    return [BATCH.name if role == "MLP" else ANCHOR.name, vote]


def label_vote(gnn_mode: str | None) -> str:
    """The label vote of the comparisons: the one the design study chose for its GNN (on
    validation), or the smallest weight when it chose none."""
    mode = MODES.get(gnn_mode) if gnn_mode is not None else None
    if mode is not None and mode.kind == "vote" and mode.labels == "true":
        return mode.name
    return vote_mode(LABEL_WEIGHTS[0]).name


def _run(lab: Lab, cfg: training.StudentConfig, modes: list[str],
         vote_head: dict[str, Any] | None) -> dict[str, Any]:
    result = lab.train(cfg)
    predictor = lab.predictor(result, vote_head=make_head(**vote_head) if vote_head else None)
    x_test, y_test = lab.test_split()
    test = {mode: accuracy(predictor.logits(MODES[mode], x_test, y_test), y_test)
            for mode in modes}
    return {"val_accuracy": result.metrics["val_accuracy"],
            "best_epoch": result.metrics["best_epoch"],
            "train_seconds": result.metrics["train_seconds"],
            "curve": [row["val_accuracy"] for row in result.history],
            "validation": cfg.validation_mode, "test": test,
            "protocols": predictor.protocols([MODES[m] for m in modes])}


def patient_stage(lab: Lab, log: StageLog, chosen: dict[str, Any], gnn_design: Design,
                  mlp_design: Design, gnn_mode: str | None = None) -> dict[str, Any]:
    """Every patient role on every final seed (one stage each, so the stage resumes run by run);
    ``gnn_mode`` is the inference mode the design study chose for its GNN."""
    vote = label_vote(gnn_mode)
    vote_head = lab.design_config("gnn-learned", gnn_design, chosen, final=True
                                  ).design().head_options
    roles = {}
    for role in PATIENT_ROLES:
        design = mlp_design if role == "MLP" else gnn_design
        modes = patient_modes(role, vote)
        head = vote_head if role == "MLP" else None
        per_seed = []
        for seed in lab.plan.final_seeds:
            cfg = patient_config(lab, role, design, chosen, seed)
            per_seed.append(log.stage(
                f"patient:{role}:seed={seed}", [cfg.to_dict(), modes, head,
                                                lab.protocol.to_dict()],
                lambda cfg=cfg, modes=modes, head=head: _run(lab, cfg, modes, head)))
        roles[role] = {"design": design.name, "modes": modes, "per_seed": per_seed,
                       "test": {m: mean_std([r["test"][m] for r in per_seed]) for m in modes},
                       "train_seconds": sum(r["train_seconds"] for r in per_seed),
                       "protocols": per_seed[0]["protocols"]}
    plan = lab.plan
    return {"roles": roles, "vote": vote, "seeds": list(plan.final_seeds),
            "epochs": plan.patient_epochs, "views": plan.patient_views,
            "mixup": plan.patient_mixup, "label_trick": plan.patient_label_trick,
            "temperature": chosen["temperature"], "alpha": 1.0,
            "comparisons": patient_comparisons(roles, vote)}


def patient_comparisons(roles: dict[str, Any], vote: str) -> list[dict[str, Any]]:
    """GNN against MLP, paired seed by seed, each protocol giving both the same help: alone;
    the bank's label vote for both; the label-trick GNN (the bank's labels as its inputs)
    against the MLP with the label vote (:func:`~cnn2gnn_lib.study.protocol.compare`, as the
    finals)."""
    weight = f"{MODES[vote].label_weight:g}"
    plain = [{"name": "alone", "student": "GNN", "gnn": ANCHOR.name, "mlp": BATCH.name,
              "help": "none: each test image is predicted on its own"},
             {"name": f"label vote {weight}", "student": "GNN", "gnn": vote, "mlp": vote,
              "help": f"the bank's true labels vote with weight {weight}"}]
    trick = [{"name": "label trick", "student": "GNN + label trick", "gnn": ANCHOR.name,
              "mlp": vote, "help": f"the bank's true labels: the GNN's inputs, the MLP's vote "
                                   f"with weight {weight}"}]
    return (compare(roles["GNN"], roles["MLP"], plain)
            + compare(roles["GNN + label trick"], roles["MLP"], trick))


def patient_tables(results: dict[str, Any]) -> list[str]:
    """``results.md``'s section on the patient stage: each student under each inductive
    protocol with its gap to the teacher, and the paired GNN-versus-MLP comparisons."""
    patient = results.get("patient")
    if not patient:
        return []
    teacher = results["teachers"]["teacher"]
    reference = teacher["metrics"]["test_accuracy"]
    lines = ["", "## How close can an honest student get? (patient distillation)", "",
             f"Every student distilled for {patient['epochs']} epochs, each epoch one of "
             f"{patient['views']} fixed views of every training image or the image itself "
             f"(mixup {patient['mixup']:g}), with the teacher's answer on that view; alpha = 1, "
             f"T = {patient['temperature']:g}; the label trick labels a share of "
             f"{patient['label_trick']:g} of each training batch. Seeds {patient['seeds']}; "
             "validation after every epoch in an inductive protocol, test read once per run. "
             f"Gap: against the teacher ({teacher['arch']}, {100 * reference:.2f}%).", "",
             "| student | design | protocol | test (%) | gap (points) | best epoch, seed 0 | "
             "training (min, all seeds) |", "|---|---|---|---|---|---|---|"]
    for role, record in patient["roles"].items():
        for mode in record["modes"]:
            stats = record["test"][mode]
            lines.append(f"| {role} | {record['design']} | {record['protocols'][mode]} | "
                         f"{pct(stats)} | {100 * (stats['mean'] - reference):+.2f} | "
                         f"{record['per_seed'][0]['best_epoch']} | "
                         f"{record['train_seconds'] / 60:.1f} |")
    lines += ["", "GNN against MLP, paired seed by seed (95% t interval; an interval that holds "
              "zero means no difference):", "",
              "| protocol | help | GNN | GNN test (%) | MLP test (%) | GNN - MLP (points) | "
              "95% interval | verdict |", "|---|---|---|---|---|---|---|---|"]
    for row in patient["comparisons"]:
        lines.append(f"| {row['name']} | {row['help']} | {row['student']} | "
                     f"{pct(row['gnn_test'])} | {pct(row['mlp_test'])} | "
                     f"{difference_cells(row['difference'])} |")
    return lines + [""]


def patient_curves(results: dict[str, Any]) -> dict[str, tuple[list[int], list[float]]]:
    """Seed 0's validation accuracy after every epoch, per student: accuracy against the
    distillation budget (for :func:`cnn2gnn_lib.plotting.plot_learning_curves`)."""
    curves = {}
    for role, record in results.get("patient", {}).get("roles", {}).items():
        run = record["per_seed"][0]
        protocol = "alone" if run["validation"] == "batch" else "anchor mode"
        curves[f"{role} (validation, {protocol})"] = (list(range(1, len(run["curve"]) + 1)),
                                                      run["curve"])
    return curves
