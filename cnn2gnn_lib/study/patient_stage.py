"""How close can an honest two-layer student get? Patient distillation and the label trick.

The stage (run by :func:`cnn2gnn_lib.reproduce.run_study` when the plan's ``patient`` is on)
first chooses a view recipe on validation with the MLP (:func:`patient_recipes`: views with
mixup, views alone, or the images alone), then trains three students with the same budget and
that recipe: ``patient_epochs`` epochs over ``patient_views``
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
from .names import teacher_label
from .stages import StageLog
from .formatting import difference_cells, interval, pct
from .protocol import compare
from .stats import mean_std

PATIENT_ROLES = ("MLP", "GNN", "GNN + label trick")


def patient_recipes(plan: Any) -> dict[str, dict[str, Any]]:
    """The view recipes the stage chooses among (on validation, with the MLP of seed 0): the
    plan's views blended with mixup (Beyer et al.'s recipe), the same views without mixup, and
    the training images alone (a long schedule and nothing else). Crops and mixup were made for
    students that see images as images; these students read raw pixels, so the stage measures
    which ingredients help them instead of assuming it."""
    return {"views + mixup": {"patient_views": plan.patient_views, "mixup": plan.patient_mixup},
            "views": {"patient_views": plan.patient_views, "mixup": 0.0},
            "images": {"patient_views": 0, "mixup": 0.0}}


def patient_config(lab: Lab, role: str, design: Design, chosen: dict[str, Any], seed: int,
                   recipe: str = "views + mixup") -> training.StudentConfig:
    """The configuration of one patient run: the chosen design of ``role`` with the plan's
    patient budget and the views of ``recipe`` (:func:`patient_recipes`). A design's own view
    option (``augment_views``) gives way to the patient views, and the label trick drops
    relation distillation, with which it does not combine."""
    plan = lab.plan
    kind = "mlp" if role == "MLP" else "gnn-learned"
    cfg = lab.design_config(kind, design, chosen, seed, final=True)
    trick = role == "GNN + label trick"
    return dataclasses.replace(
        cfg, epochs=plan.patient_epochs, alpha=1.0, augment_views=0,
        **patient_recipes(plan)[recipe],
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


def _training(result: training.StudentResult) -> dict[str, Any]:
    """What every patient record keeps of a finished run: its validation, best epoch, time
    and learning curve (validation accuracy after every epoch)."""
    return {"val_accuracy": result.metrics["val_accuracy"],
            "best_epoch": result.metrics["best_epoch"],
            "train_seconds": result.metrics["train_seconds"],
            "curve": [row["val_accuracy"] for row in result.history]}


def _run(lab: Lab, cfg: training.StudentConfig, modes: list[str],
         vote_head: dict[str, Any] | None) -> dict[str, Any]:
    result = lab.train(cfg)
    predictor = lab.predictor(result, vote_head=make_head(**vote_head) if vote_head else None)
    x_test, y_test = lab.test_split()
    test = {mode: accuracy(predictor.logits(MODES[mode], x_test, y_test), y_test)
            for mode in modes}
    return {**_training(result), "validation": cfg.validation_mode, "test": test,
            "protocols": predictor.protocols([MODES[m] for m in modes])}


def _trial(lab: Lab, cfg: training.StudentConfig) -> dict[str, Any]:
    return {**_training(lab.train(cfg)), "views": cfg.patient_views, "mixup": cfg.mixup}


def choose_recipe(lab: Lab, log: StageLog, chosen: dict[str, Any], mlp_design: Design
                  ) -> tuple[str, dict[str, Any]]:
    """Every recipe of :func:`patient_recipes` on the MLP of the first final seed (one stage
    each), and the one with the best validation accuracy (the first listed on a tie)."""
    trials = {}
    for name in patient_recipes(lab.plan):
        cfg = patient_config(lab, "MLP", mlp_design, chosen, lab.plan.final_seeds[0], name)
        trials[name] = log.stage(f"patient:recipe:{name}", [cfg.to_dict()],
                                 lambda cfg=cfg: _trial(lab, cfg))
    best = max(trials, key=lambda name: trials[name]["val_accuracy"])
    return best, trials


def patient_stage(lab: Lab, log: StageLog, chosen: dict[str, Any], gnn_design: Design,
                  mlp_design: Design, gnn_mode: str | None = None) -> dict[str, Any]:
    """The recipe chosen on validation (:func:`choose_recipe`), then every patient role on
    every final seed with it (one stage each, so the stage resumes run by run); ``gnn_mode`` is
    the inference mode the design study chose for its GNN."""
    recipe, trials = choose_recipe(lab, log, chosen, mlp_design)
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
            cfg = patient_config(lab, role, design, chosen, seed, recipe)
            per_seed.append(log.stage(
                f"patient:{role}:seed={seed}", [cfg.to_dict(), modes, head,
                                                lab.protocol.to_dict()],
                lambda cfg=cfg, modes=modes, head=head: _run(lab, cfg, modes, head)))
        roles[role] = {"design": design.name, "modes": modes, "per_seed": per_seed,
                       "test": {m: mean_std([r["test"][m] for r in per_seed]) for m in modes},
                       "train_seconds": sum(r["train_seconds"] for r in per_seed),
                       "protocols": per_seed[0]["protocols"]}
    plan = lab.plan
    return {"recipe": recipe, "recipes": trials,
            "roles": roles, "vote": vote, "seeds": list(plan.final_seeds),
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


def _best(roles: dict[str, Any]) -> dict[str, Any]:
    """The best mean test accuracy over ``roles`` (``name -> record`` with ``test`` by mode)
    among the inductive protocols: an MLP's batch mode is each image alone, a GNN's is not
    honest and is left out."""
    rows = [{"student": name, "mode": "each image alone" if mode == BATCH.name else mode, **stats}
            for name, record in roles.items() for mode, stats in record["test"].items()
            if mode != BATCH.name or "MLP" in name]
    return max(rows, key=lambda row: row["mean"])


def patient_gap(results: dict[str, Any]) -> dict[str, Any] | None:
    """How far the best honest student stays below the teacher, before and after the patient
    stage: "before" is the best of the design study's chosen designs on the test split (5
    seeds, each in its inductive modes), "after" the best patient student (the same seeds and
    protocols). ``target`` is the issue's bar: half the gap before. ``None`` without a patient
    stage."""
    patient = results.get("patient")
    if not patient:
        return None
    teacher = results["teachers"]["teacher"]["metrics"]["test_accuracy"]
    finals = results.get("designs", {}).get("finals", {})
    before = _best({f"{record['design']} ({role.upper()})": record
                    for role, record in finals.items() if role in ("gnn", "mlp")}
                   ) if finals else None
    after = _best(patient["roles"])
    gap = {"teacher": teacher, "before": before, "after": after,
           "gap_after": teacher - after["mean"]}
    if before is not None:
        gap["gap_before"] = teacher - before["mean"]
        gap["target"] = teacher - gap["gap_before"] / 2
    return gap


def _epochs(epochs: int | None) -> str:
    """A budget as a parenthesis continues it (``, 60 epochs``), nothing when unrecorded."""
    return f", {epochs} epochs" if epochs else ""


def gap_lines(results: dict[str, Any]) -> list[str]:
    """:func:`patient_gap` in words, one line each for before and after."""
    gap = patient_gap(results)
    if gap is None:
        return []
    arch = teacher_label(results["teachers"]["teacher"])
    lines = [f"Teacher ({arch}): {100 * gap['teacher']:.2f}%."]
    if gap["before"] is not None:
        b = gap["before"]
        budget = _epochs(results["designs"].get("final_epochs"))
        lines.append(f"Before (the design study's chosen designs, {b['n']} seeds{budget}): best "
                     f"{b['student']}, {b['mode']}, {pct(b)}%: "
                     f"{100 * gap['gap_before']:.2f} points below the teacher.")
    a = gap["after"]
    budget = _epochs(results["patient"].get("epochs"))
    lines.append(f"After (patient distillation, {a['n']} seeds{budget}): best {a['student']}, "
                 f"{a['mode']}, {pct(a)}%: {100 * gap['gap_after']:.2f} points below the "
                 "teacher.")
    if gap["before"] is not None:
        closed = gap["gap_before"] - gap["gap_after"]
        lines.append(f"The patient stage closes {100 * closed:+.2f} points of the gap; half "
                     f"the gap before would need {100 * gap['target']:.2f}%, which it "
                     f"{'reaches' if a['mean'] >= gap['target'] else 'does not reach'}.")
    return lines


def graph_verdict(results: dict[str, Any], bar: float = 0.01) -> str | None:
    """Whether the graph earns its place in the patient stage: at least ``bar`` (1 point) over
    the MLP in some paired comparison, with the whole 95% interval above zero. Names the best
    comparison either way; ``None`` without comparisons."""
    rows = results.get("patient", {}).get("comparisons", [])
    if not rows:
        return None
    best = max(rows, key=lambda row: row["difference"]["mean"])
    diff = best["difference"]
    earns = diff["mean"] >= bar and diff["ci"] is not None and diff["ci"][0] > 0
    spread = "no interval" if diff["ci"] is None else f"95% interval {interval(diff)}"
    return (f"Does the graph earn at least {100 * bar:g} point over the MLP, with its interval "
            f"above zero? {'Yes' if earns else 'No'}: its best comparison, \"{best['name']}\" "
            f"({best['student']}), is {100 * diff['mean']:+.2f} points, {spread}.")


def budget_lines(results: dict[str, Any], window: int = 5) -> list[str]:
    """What the patient budget bought over the design study's finals, read off the curves of
    :func:`patient_curves`: each curve's validation accuracy averaged over the ``window``
    epochs that end at the finals' budget, against the same average over its last epochs (an
    average, because one epoch's accuracy moves by tenths of a point). Empty without both."""
    finals = results.get("designs", {}).get("final_epochs")
    curves = patient_curves(results)
    if not finals or not curves:
        return []
    lines = []
    for name, (_, curve) in curves.items():
        end = len(curve)
        if finals >= end or finals < window:
            continue
        early = sum(curve[finals - window:finals]) / window
        late = sum(curve[-window:]) / window
        lines.append(f"{name}: {100 * early:.2f}% at epochs {finals - window + 1}-{finals}, "
                     f"{100 * late:.2f}% at epochs {end - window + 1}-{end} "
                     f"({100 * (late - early):+.2f} points)")
    return lines


def patient_tables(results: dict[str, Any]) -> list[str]:
    """``results.md``'s section on the patient stage: each student under each inductive
    protocol with its gap to the teacher, and the paired GNN-versus-MLP comparisons."""
    patient = results.get("patient")
    if not patient:
        return []
    teacher = results["teachers"]["teacher"]
    reference = teacher["metrics"]["test_accuracy"]
    lines = ["", "## How close can an honest student get? (patient distillation)", "",
             f"Recipes tried on the MLP of seed {patient['seeds'][0]}, {patient['epochs']} "
             "epochs each (validation, each image alone; a view is one of the fixed views of "
             "a training image or the image itself):", "",
             "| recipe | views per image | mixup | validation (%) | best epoch | "
             "training (min) |", "|---|---|---|---|---|---|"]
    for name, trial in patient.get("recipes", {}).items():
        mark = " (chosen)" if name == patient.get("recipe") else ""
        lines.append(f"| {name}{mark} | {trial['views']} | {trial['mixup']:g} | "
                     f"{100 * trial['val_accuracy']:.2f} | {trial['best_epoch']} | "
                     f"{trial['train_seconds'] / 60:.1f} |")
    lines += ["", f"Every student distilled for {patient['epochs']} epochs with the recipe "
              f"\"{patient.get('recipe', 'views + mixup')}\" (it replaces a design's own "
              "views), the teacher's answer on exactly what the student sees; alpha = 1, "
              f"T = {patient['temperature']:g}; the label trick labels a share of "
              f"{patient['label_trick']:g} of each training batch. Seeds "
              f"{patient['seeds']}; validation after every epoch in an inductive protocol, "
              f"test read once per run. Gap: against the teacher ({teacher_label(teacher)}, "
              f"{100 * reference:.2f}%).", "",
             "| student | design | protocol | test (%) | gap (points) | best epoch, seed 0 | "
             "training (min, all seeds) |", "|---|---|---|---|---|---|---|"]
    for role, record in patient["roles"].items():
        for mode in record["modes"]:
            stats = record["test"][mode]
            protocol = ("each test image alone (an MLP reads no other image)"
                        if role == "MLP" and mode == BATCH.name else record["protocols"][mode])
            lines.append(f"| {role} | {record['design']} | {protocol} | "
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
    lines += ["", graph_verdict(results)]
    budget = budget_lines(results)
    if budget:
        lines += ["", "What the longer budget bought, seed 0 (validation accuracy averaged over "
                  "five epochs: at the design study's final budget and at the end):", ""]
        lines += [f"- {line}." for line in budget]
    gap = gap_lines(results)
    return lines + ["", "The gap to the teacher, before and after:", ""] + [
        f"- {line}" for line in gap] + [""]


def patient_curves(results: dict[str, Any]) -> dict[str, tuple[list[int], list[float]]]:
    """Validation accuracy after every epoch, against the distillation budget: the MLP of each
    recipe tried, then each graph student on the first seed (for
    :func:`cnn2gnn_lib.plotting.plot_learning_curves`)."""
    curves = {}
    patient = results.get("patient", {})
    for name, trial in patient.get("recipes", {}).items():
        curves[f"MLP, recipe {name} (validation, alone)"] = (
            list(range(1, len(trial["curve"]) + 1)), trial["curve"])
    for role, record in patient.get("roles", {}).items():
        if role == "MLP" and patient.get("recipes"):
            continue  # its seed 0 is the chosen recipe's curve above
        run = record["per_seed"][0]
        protocol = "alone" if run["validation"] == "batch" else "anchor mode"
        curves[f"{role} (validation, {protocol})"] = (list(range(1, len(run["curve"]) + 1)),
                                                      run["curve"])
    return curves
