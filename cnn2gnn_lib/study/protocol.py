"""The steps of the study's protocol, as plain functions of a :class:`~.lab.Lab` and a
:class:`~.stages.StageLog`, in the order :func:`cnn2gnn_lib.reproduce.reproduce` runs them.

1. :func:`teacher`: the distilling teacher, evaluated once on the test split; then
   :func:`teacher_logits`, its logits on the students' pool (the deeper CNN of the same family,
   the other :func:`teacher`, is trained after the students: only the comparison needs it);
2. :func:`sweeps`: ``s``, then ``T``, then ``alpha``, each chosen on the validation split
   (seed 0, short runs, learned-graph GNN with KD), never on test;
3. :func:`main_rows`: every student kind without and with KD over the seeds, tested in batch
   mode and, for the GNNs, in anchor mode;
4. :func:`efficiency`: parameters, FLOPs per image and measured images/s, in one process
   (anchor mode with the full bank and with a compact k-means bank, each with its accuracy);
5. :func:`designs`: every design of the design table judged on validation in every inference
   mode; the best GNN and MLP designs tested once per final seed (:func:`finals`) under the
   same protocols and the same help (:func:`comparison_protocols`: each image alone, and the
   bank's label vote the GNN chose, which the MLP gets too), compared seed by seed
   (:func:`compare`), with the evidence that explains their difference (:func:`evidence`, a
   stage of its own);
6. the protocol stage, in :mod:`~cnn2gnn_lib.study.protocol_stage`.

Every function records its stages as soon as they finish, so an interrupted study resumes.
"""
from __future__ import annotations

from typing import Any

import torch

from .. import data, efficiency as cost, protocols as batching, training
from ..metrics import accuracy
from ..students import GNN_DESIGNS, MLP_DESIGNS, Design
from . import names
from ..graph.heads import make_head
from .inference import ANCHOR, ANCHOR_KMEANS, BATCH, LABEL_WEIGHTS, MODES, modes_of
from .lab import Lab
from .stages import StageLog
from .stats import mean_std, paired_difference


def teacher(lab: Lab, log: StageLog, role: str) -> dict[str, Any]:
    """Train (or load) the ``"teacher"`` (the one that distils) or the ``"deep"`` CNN of the
    same family, evaluate it once on the test split and record it (one stage)."""
    plan = lab.plan
    arch, epochs = {"teacher": (plan.teacher_arch, plan.teacher_epochs),
                    "deep": (plan.deep_arch, plan.deep_epochs)}[role]

    def record() -> dict[str, Any]:
        result = lab.teacher(arch, epochs)
        metrics = dict(result.metrics)
        if plan.teacher_flip:  # the accuracy of the teacher as it answers, and the plain one
            _, test = training.teacher_splits(result.config, lab.root)
            found = training.evaluate(result.model, test, device=lab.device)
            metrics.update(single_view_test_accuracy=metrics["test_accuracy"],
                           single_view_test_loss=metrics["test_loss"],
                           test_accuracy=found["accuracy"], test_loss=found["loss"],
                           test_time_flip=True)
        return {"arch": arch, "config": result.config.to_dict(), "metrics": metrics,
                "history": result.history, "checkpoint": result.path.name}

    return log.stage(f"teacher:{arch}", lab.teacher_settings(arch, epochs), record)


def teacher_logits(lab: Lab, log: StageLog) -> None:
    """Cache the distilling teacher's logits on the students' pool (one stage)."""
    log.stage("teacher-logits", lab.teacher_settings(lab.plan.teacher_arch,
                                                     lab.plan.teacher_epochs),
              lambda: {"shape": list(lab.teacher_logits().shape)})


def teachers(lab: Lab, log: StageLog) -> dict[str, Any]:
    """Both teachers, then the teacher's logits (what :func:`teacher` and
    :func:`teacher_logits` do, in one call)."""
    found = {role: teacher(lab, log, role) for role in ("teacher", "deep")}
    teacher_logits(lab, log)
    return found


def _sweep_value(lab: Lab, log: StageLog, name: str, s: int, temperature: float,
                 alpha: float) -> float:
    cfg = lab.student_config("gnn-learned", True, 0, lab.plan.sweep_epochs, s, temperature,
                             alpha)
    record = log.stage(name, cfg.to_dict(),
                       lambda: {"val_accuracy": lab.train(cfg).metrics["val_accuracy"]})
    return record["val_accuracy"]


def sweeps(lab: Lab, log: StageLog) -> dict[str, Any]:
    """Choose ``s``, ``T`` and ``alpha`` one after the other on validation; the sweeps go into
    ``results["sweeps"]``, the chosen values are returned."""
    plan = lab.plan
    found: dict[str, list[dict[str, float]]] = {"s": [], "temperature": [], "alpha": []}
    best = {"s": plan.default_s, "temperature": plan.default_temperature,
            "alpha": plan.default_alpha}
    for name, values, label in (("s", plan.s_values, "s={}"),
                                ("temperature", plan.temperatures, "T={:g}"),
                                ("alpha", plan.alphas, "alpha={:g}")):
        for value in values:
            trial = {**best, name: value}
            accuracy_ = _sweep_value(lab, log, f"sweep:{label.format(value)}", trial["s"],
                                     trial["temperature"], trial["alpha"])
            found[name].append({"value": value, "val_accuracy": accuracy_})
        best[name] = max(found[name], key=lambda r: r["val_accuracy"])["value"]
    log.results["sweeps"] = found
    return {**best, "chosen_on": "validation split, seed 0, learned-graph GNN with KD"}


def _main_record(lab: Lab, cfg) -> dict[str, Any]:
    result = lab.train(cfg)
    x_test, y_test = lab.test_split()
    predictor = lab.predictor(result)
    record = {"val_accuracy": result.metrics["val_accuracy"],
              "best_epoch": result.metrics["best_epoch"],
              "train_seconds": result.metrics["train_seconds"],
              names.TEST_BATCH: accuracy(predictor.logits(BATCH, x_test, y_test), y_test),
              "history": result.history,
              "protocols": {names.TEST_BATCH: predictor.describe(BATCH)}}
    if ANCHOR in modes_of(result.model):
        record[names.TEST_ANCHOR] = accuracy(predictor.logits(ANCHOR, x_test), y_test)
        record["protocols"][names.TEST_ANCHOR] = predictor.describe(ANCHOR)
        record["bank_size"] = predictor.bank().size
    return record


def main_rows(lab: Lab, log: StageLog, chosen: dict[str, Any]) -> list[dict[str, Any]]:
    """Every kind of :data:`names.KD_ROWS` on every seed, tested once per seed."""
    rows = []
    for kind, kd in names.KD_ROWS:
        per_seed = []
        for seed in lab.plan.seeds:
            cfg = lab.chosen_config(kind, kd, seed, lab.plan.student_epochs, chosen)
            name = f"student:{kind}{'+kd' if kd else ''}:seed={seed}"
            per_seed.append(log.stage(name, [cfg.to_dict(), lab.protocol.to_dict()],
                                      lambda cfg=cfg: _main_record(lab, cfg)))
        row: dict[str, Any] = {"student": kind, "kd": kd, "seeds": list(lab.plan.seeds),
                               "per_seed": per_seed}
        for metric in ("val_accuracy", names.TEST_BATCH, names.TEST_ANCHOR):
            if metric in per_seed[0]:
                row[metric] = mean_std([r[metric] for r in per_seed])
        rows.append(row)
    return rows


def _measure(lab: Lab, chosen: dict[str, Any]) -> dict[str, Any]:
    plan = lab.plan
    test = data.load_dataset(plan.dataset, "test", lab.root)
    images = test.images[:plan.throughput_batch].float().div(255)
    flat = data.flat_features(test.select(torch.arange(plan.throughput_batch)))
    records = []
    for arch, epochs in ((plan.teacher_arch, plan.teacher_epochs),
                         (plan.deep_arch, plan.deep_epochs)):
        model = lab.teacher(arch, epochs).model.to("cpu").eval()
        model.to(memory_format=torch.channels_last)
        batch = images.contiguous(memory_format=torch.channels_last)
        record = {**cost.profile(arch, model, batch), "role": "teacher"}
        records.append({**record, "test_time_flip": True} if plan.teacher_flip else record)
    mlp = lab.train(lab.chosen_config("mlp", True, plan.seeds[0], plan.student_epochs, chosen))
    records.append({**cost.profile(names.MLP_MODEL, mlp.model.to("cpu").eval(), flat),
                    "role": "student"})
    gnn = lab.train(lab.chosen_config("gnn-learned", True, plan.seeds[0], plan.student_epochs,
                                      chosen))
    model = gnn.model.to("cpu").eval()
    model.backend = "torch"  # the faster backend on CPU (same numbers as DGL)
    records.append({**cost.profile(names.GNN_BATCH_MODEL, model, flat), "role": "student"})
    x_test, y_test = lab.test_split()
    split = lab.data(gnn.config)

    def anchor_record(name: str, predictor: Any, mode: Any) -> dict[str, Any]:
        bank = predictor.bank(mode.bank)
        anchor = cost.profile(name, model, flat, run=lambda x: model.predict_anchor(x, bank),
                              flops=cost.anchor_flops_per_image(model, bank, flat))
        # accuracy beside the speed: a smaller bank must not buy its speed with accuracy
        return {**anchor, "bank_size": bank.size, "bank": mode.bank, "role": "student",
                "val_accuracy": accuracy(predictor.logits(mode, split.x_val), split.y_val),
                "test_accuracy": accuracy(predictor.logits(mode, x_test), y_test),
                "protocol": predictor.describe(mode)}

    full = anchor_record(names.GNN_ANCHOR_MODEL, lab.predictor(gnn), ANCHOR)
    records.append(full)
    teacher_rate = records[0]["images_per_second"]
    banks = [anchor_record(names.GNN_COMPACT_ANCHOR_MODEL, lab.predictor(gnn, bank_size=size),
                           ANCHOR_KMEANS) for size in plan.compact_bank_sizes]
    for record in banks:
        record["speedup_vs_teacher"] = record["images_per_second"] / teacher_rate
    chosen_bank, rule = choose_compact_bank(banks, full["val_accuracy"],
                                            plan.fast_anchor_speedup, plan.fast_anchor_tolerance)
    records.append(chosen_bank)
    for record in records:
        record["speedup_vs_teacher"] = record["images_per_second"] / teacher_rate
    return {"device": "cpu", "threads": torch.get_num_threads(), "records": records,
            "compact_banks": banks, "compact_bank_rule": rule}


def choose_compact_bank(banks: list[dict[str, Any]], full_val_accuracy: float,
                        min_speedup: float, tolerance_points: float
                        ) -> tuple[dict[str, Any], str]:
    """The k-means bank the efficiency stage reports as the fast anchor mode, and the rule that
    picked it, judged on validation (chapter 7 explains the trade-off).

    Among the banks at ``min_speedup`` x the teacher or faster, the smallest whose validation
    accuracy is at most ``tolerance_points`` below the full bank's; if none is that close, the
    most accurate of them; if none is that fast, the fastest bank.
    """
    if not banks:
        raise ValueError("no k-means bank was measured: compact_bank_sizes is empty")
    fast = [b for b in banks if b["speedup_vs_teacher"] >= min_speedup]
    close = [b for b in fast
             if 100 * (full_val_accuracy - b["val_accuracy"]) <= tolerance_points]
    if close:
        return (min(close, key=lambda b: b["bank_size"]),
                f"the smallest bank at {min_speedup:g}x the teacher or faster whose validation "
                f"accuracy is within {tolerance_points:g} points of the full bank's")
    if fast:
        return (max(fast, key=lambda b: b["val_accuracy"]),
                f"no bank at {min_speedup:g}x the teacher or faster came within "
                f"{tolerance_points:g} points of the full bank on validation: the most "
                "accurate of those fast enough")
    return (max(banks, key=lambda b: b["speedup_vs_teacher"]),
            f"no bank reached {min_speedup:g}x the teacher: the fastest")


def efficiency(lab: Lab, log: StageLog, chosen: dict[str, Any]) -> dict[str, Any]:
    """What teachers and students cost at inference (one stage)."""
    # what can change a measurement; the stages that run after the efficiency stage was
    # written (designs, patient) cannot
    settings = {k: v for k, v in lab.plan.to_dict().items()
                if k != "designs" and not k.startswith("patient")}
    if not settings.get("teacher_flip"):  # named only when on, as in the teachers' stages,
        settings.pop("teacher_flip", None)  # so studies recorded before it keep their key
    return log.stage("efficiency", [settings, chosen], lambda: _measure(lab, chosen))


# --------------------------------------------------------------------------------------------
# Designs: does the learned graph earn its place?


def _design_record(lab: Lab, kind: str, design: Design, chosen: dict[str, Any]
                   ) -> dict[str, Any]:
    cfg = lab.design_config(kind, design, chosen)
    result = lab.train(cfg)
    split = lab.data(cfg)
    predictor = lab.predictor(result, teacher_labels=True)
    record: dict[str, Any] = {
        "design": design.name, "description": design.description, "student": kind,
        "options": design.overrides, "train_seconds": result.metrics["train_seconds"],
        "best_epoch": result.metrics["best_epoch"],
        "val": predictor.accuracies(split.x_val, split.y_val),
        "val_protocols": predictor.protocols(), "history": result.history}
    model = result.model
    if model.head is not None:
        record["val_batch_homophily"] = batching.batch_homophily(model, split.x_val, split.y_val,
                                                                 predictor.protocol)
    if getattr(model, "self_logit", None) is not None:
        record["learned_self_weight"] = float(model.self_weight().detach())
    return record


def comparison_protocols(gnn_mode: str) -> list[dict[str, str]]:
    """How the final GNN and MLP are compared, each protocol giving both the same help.

    Always ``alone``: each test image predicted on its own (the GNN in anchor mode against the
    bank, the MLP as it is). Then the GNN's chosen mode, if it is another one; when that mode
    lets the bank's labels vote, the MLP gets the same vote (same bank, same weight, its
    neighbours found in its hidden space by the GNN's graph rule).
    """
    protocols = [{"name": "alone", "gnn": ANCHOR.name, "mlp": BATCH.name,
                  "help": "none: each test image is predicted on its own"}]
    mode = MODES[gnn_mode]
    if mode.kind == "vote":
        source = "true labels" if mode.labels == "true" else "teacher's probabilities"
        protocols.append({"name": f"label vote {mode.label_weight:g}", "gnn": gnn_mode,
                          "mlp": gnn_mode,
                          "help": f"the bank's {source} vote with weight {mode.label_weight:g}"})
    elif mode != ANCHOR:
        protocols.append({"name": gnn_mode, "gnn": gnn_mode, "mlp": BATCH.name,
                          "help": f"the GNN in {gnn_mode} mode; the MLP needs no graph"})
    return protocols


def finals(lab: Lab, log: StageLog, kind: str, design: Design, modes: list[str],
           chosen: dict[str, Any], vote_head: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chosen design of ``kind`` on every final seed, tested once in each of ``modes``
    (the first is its headline mode). ``vote_head`` (an MLP's) holds the graph rule of its
    label votes: ``make_head`` keywords."""
    x_test, y_test = lab.test_split()
    per_seed = []
    for seed in lab.plan.final_seeds:
        cfg = lab.design_config(kind, design, chosen, seed, final=True)

        def run(cfg=cfg) -> dict[str, Any]:
            result = lab.train(cfg)
            teacher_labels = any(MODES[m].labels == "teacher" for m in modes)
            predictor = lab.predictor(result, teacher_labels=teacher_labels,
                                      vote_head=make_head(**vote_head) if vote_head else None)
            test, predictions = {}, None
            for mode in modes:
                logits = predictor.logits(MODES[mode], x_test, y_test)
                test[mode] = accuracy(logits, y_test)
                predictions = predictions or logits.argmax(1).tolist()
            return {"val_accuracy": result.metrics["val_accuracy"],
                    "test_accuracy": test[modes[0]], "test": test, "predictions": predictions,
                    "protocols": predictor.protocols([MODES[m] for m in modes])}

        per_seed.append(log.stage(f"final:{design.name}:seed={seed}",
                                  [cfg.to_dict(), modes, vote_head, lab.protocol.to_dict()],
                                  run))
    return {"design": design.name, "student": kind, "mode": modes[0], "modes": modes,
            "description": design.description, "seeds": list(lab.plan.final_seeds),
            "per_seed": per_seed, "vote_head": vote_head,
            "test_accuracy": mean_std([r["test_accuracy"] for r in per_seed]),
            "test": {mode: mean_std([r["test"][mode] for r in per_seed]) for mode in modes},
            "protocols": per_seed[0]["protocols"]}


def compare(gnn: dict[str, Any], mlp: dict[str, Any], protocols: list[dict[str, str]]
            ) -> list[dict[str, Any]]:
    """Per protocol: both students' mean and spread, and their paired per-seed difference."""
    rows = []
    for protocol in protocols:
        g = [r["test"][protocol["gnn"]] for r in gnn["per_seed"]]
        m = [r["test"][protocol["mlp"]] for r in mlp["per_seed"]]
        rows.append({**protocol, "gnn_test": mean_std(g), "mlp_test": mean_std(m),
                     "difference": paired_difference(g, m, ("GNN", "MLP"))})
    return rows


def evidence(lab: Lab, chosen_finals: dict[str, Any], chosen: dict[str, Any],
             gnn_design: Design) -> dict[str, Any]:
    """Why the two final students differ: per-class accuracy, where their predictions part,
    and how homophilous the GNN's test graphs are (seed 0 of each)."""
    x_test, y_test = lab.test_split()
    classes = int(y_test.max()) + 1
    gnn = torch.tensor(chosen_finals["gnn"]["per_seed"][0]["predictions"])
    mlp = torch.tensor(chosen_finals["mlp"]["per_seed"][0]["predictions"])

    def per_class(pred: torch.Tensor) -> list[float]:
        return [accuracy(pred[y_test == c], y_test[y_test == c]) for c in range(classes)]

    differ = gnn != mlp
    cfg = lab.design_config("gnn-learned", gnn_design, chosen, final=True)
    model = lab.train(cfg).model.to("cpu").eval()
    return {"per_class_gnn": per_class(gnn), "per_class_mlp": per_class(mlp),
            "classes": data.dataset_info(lab.plan.dataset).classes,
            "predictions_differ": differ.float().mean().item(),
            "gnn_right_mlp_wrong": ((gnn == y_test) & (mlp != y_test)).sum().item(),
            "mlp_right_gnn_wrong": ((mlp == y_test) & (gnn != y_test)).sum().item(),
            "both_wrong_differently": (differ & (gnn != y_test) & (mlp != y_test)).sum().item(),
            "test_images": len(y_test),
            "test_batch_homophily": batching.batch_homophily(model, x_test, y_test,
                                                             lab.protocol_for(cfg)),
            "homophily_protocol": lab.protocol_for(cfg).describe()}


def _best(records: dict[str, Any], designs: tuple[Design, ...]) -> tuple[Design, str, float]:
    options = [(d, mode, value) for d in designs
               for mode, value in records[d.name]["val"].items()]
    return max(options, key=lambda item: item[2])


def designs(lab: Lab, log: StageLog, chosen: dict[str, Any]) -> dict[str, Any]:
    """Every design once on validation; the best GNN and MLP design tested on every seed."""
    records = {}
    for kind, table in (("gnn-learned", GNN_DESIGNS), ("mlp", MLP_DESIGNS)):
        for design in table:
            cfg = lab.design_config(kind, design, chosen)
            records[design.name] = log.stage(
                f"design:{design.name}", [cfg.to_dict(), lab.protocol.to_dict()],
                lambda kind=kind, design=design: _design_record(lab, kind, design, chosen))
    gnn, gnn_mode, gnn_val = _best(records, GNN_DESIGNS)
    mlp, _, mlp_val = _best(records, MLP_DESIGNS)
    protocols = comparison_protocols(gnn_mode)
    gnn_modes = list(dict.fromkeys([gnn_mode] + [p["gnn"] for p in protocols]))
    mlp_modes = list(dict.fromkeys([protocols[-1]["mlp"]] + [p["mlp"] for p in protocols]))
    gnn_final = lab.design_config("gnn-learned", gnn, chosen, final=True)
    vote_head = gnn_final.design().head_options
    chosen_finals = {"gnn": finals(lab, log, "gnn-learned", gnn, gnn_modes, chosen),
                     "mlp": finals(lab, log, "mlp", mlp, mlp_modes, chosen, vote_head)}
    chosen_finals["gnn"]["design_val_accuracy"] = gnn_val
    chosen_finals["mlp"]["design_val_accuracy"] = mlp_val
    chosen_finals["comparison"] = compare(chosen_finals["gnn"], chosen_finals["mlp"], protocols)
    # a stage of its own, keyed by both finals' seed-0 runs: a rewrite needs no checkpoint
    settings = [gnn_final.to_dict(), gnn_modes,
                lab.design_config("mlp", mlp, chosen, final=True).to_dict(), mlp_modes,
                vote_head, lab.protocol.to_dict()]
    chosen_finals["evidence"] = log.stage(
        "evidence", settings, lambda: evidence(lab, chosen_finals, chosen, gnn))
    return {"records": list(records.values()), "finals": chosen_finals,
            "label_weights": list(LABEL_WEIGHTS),
            "design_epochs": lab.plan.sweep_epochs, "final_epochs": lab.plan.student_epochs,
            "chosen_on": "validation split, seed 0; test read once per final seed",
            "compared_on": "the same final seeds, paired; 95% t interval of the difference"}
