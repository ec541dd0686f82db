"""The protocol stage of the study: every protocol student under every way of forming test
batches (:mod:`cnn2gnn_lib.protocols`), and the tables that read it back.

It answers with numbers the question of chapter 7 of the book ("Protocols"): under which
protocol does a distilled two-layer GNN reach or pass its teacher? The teachers and the MLP
predict each image alone, so their accuracies are the references no batching changes.
"""
from __future__ import annotations

from typing import Any

from .. import protocols as batching
from ..metrics import accuracy
from ..students import Design
from .inference import ANCHOR, modes_of
from .lab import Lab
from .names import teacher_label
from .stages import StageLog


def protocol_grid(plan) -> list[batching.Protocol]:
    """The protocols of the protocol stage (:func:`cnn2gnn_lib.protocols.protocol_grid` at the
    plan's batch sizes and Dirichlet concentrations)."""
    return batching.protocol_grid(plan.protocol_batch_sizes, plan.dirichlet_concentrations)


def protocol_students(lab: Lab, chosen: dict[str, Any], gnn_design: Design
                      ) -> dict[str, Any]:
    """The students the protocol stage measures, by name: the MLP and the paper-design GNN
    with KD (seed 0 of the main rows), that GNN without KD, and the chosen GNN design with
    and without KD (its final schedule, seed 0)."""
    epochs, seed = lab.plan.student_epochs, lab.plan.seeds[0]
    found = {"MLP + KD": lab.chosen_config("mlp", True, seed, epochs, chosen),
             "GNN paper design": lab.chosen_config("gnn-learned", False, seed, epochs, chosen),
             "GNN paper design + KD": lab.chosen_config("gnn-learned", True, seed, epochs,
                                                        chosen)}
    if gnn_design.name != "paper":
        found[f"GNN {gnn_design.name}"] = lab.chosen_config(
            "gnn-learned", False, seed, epochs, chosen, **gnn_design.overrides)
        found[f"GNN {gnn_design.name} + KD"] = lab.design_config("gnn-learned", gnn_design,
                                                                 chosen, final=True)
    return found


def _protocol_record(lab: Lab, cfg, grid: list[batching.Protocol]) -> dict[str, Any]:
    result = lab.train(cfg)
    model = result.model.to("cpu").eval()
    x_test, y_test = lab.test_split()
    rows = batching.evaluate_grid(model, x_test, y_test, grid, lab.bank_data(cfg).x_train,
                                  lab.progress)
    record: dict[str, Any] = {"student": cfg.kind, "kd": cfg.alpha > 0, "rows": rows}
    if ANCHOR in modes_of(model):
        predictor = lab.predictor(result)
        record["anchor"] = {"accuracy": accuracy(predictor.logits(ANCHOR, x_test), y_test),
                            "description": predictor.describe(ANCHOR)}
    return record


def protocol_stage(lab: Lab, log: StageLog, chosen: dict[str, Any], gnn_design: Design
                   ) -> dict[str, Any]:
    """Every protocol student (:func:`protocol_students`) under every protocol of
    :func:`protocol_grid`, with the batch-mode edge homophily beside each accuracy; one stage
    per student. The teachers' accuracies do not depend on batching (each image is alone)."""
    grid = protocol_grid(lab.plan)
    records = {}
    for name, cfg in protocol_students(lab, chosen, gnn_design).items():
        records[name] = log.stage(f"protocols:{name}",
                                  [cfg.to_dict(), [rule.to_dict() for rule in grid]],
                                  lambda cfg=cfg: _protocol_record(lab, cfg, grid))
    return {"students": records, "batch_sizes": list(lab.plan.protocol_batch_sizes),
            "concentrations": list(lab.plan.dirichlet_concentrations),
            "test_images": len(lab.test_split()[1]), "seed": lab.plan.seeds[0]}

def protocol_references(results: dict[str, Any]) -> dict[str, float]:
    """Accuracies that no batching changes (each image is predicted alone): the teachers, and
    the distilled MLP of the protocol stage (seed 0)."""
    found = {}
    for role, record in results.get("teachers", {}).items():
        name = "teacher" if role == "teacher" else "deeper CNN"
        found[f"{name} ({teacher_label(record)})"] = record["metrics"]["test_accuracy"]
    mlp = results["protocols"]["students"].get("MLP + KD")
    if mlp:
        found["MLP + KD"] = mlp["rows"][0]["accuracy"]
    return found


# A margin this small (points) between two single-seed accuracies is read as a tie: in the
# Fashion-MNIST finals (chapter 8) one configuration's five seeds spread over 0.68 points (GNN,
# anchor mode) and 0.75 points (MLP), so one seed cannot separate 0.5 points.
SEED_NOISE_POINTS = 0.5


def _margin(points: float) -> str:
    note = (f", within one seed's noise (under {SEED_NOISE_POINTS:g})"
            if points < SEED_NOISE_POINTS else "")
    return f"up to {points:+.2f} points{note}"


def protocol_verdict(found: dict[str, Any], references: dict[str, float]) -> list[str]:
    """For every graph student of ``found`` (a protocol stage, or a grid a chapter ran) and
    every reference accuracy that no batching changes: the protocols under which the student
    reaches the reference, with the batch sizes where it does and its largest margin (flagged
    when under :data:`SEED_NOISE_POINTS`), and those under which it never does. Students without
    a graph are left out (their rows equal the reference or never move)."""
    lines = []
    for name, record in found["students"].items():
        if not any("homophily" in row for row in record["rows"]):
            continue  # no batch graph: every protocol gives the same answer
        for reference, value in references.items():
            reached: dict[str, list[tuple[int, float]]] = {}
            for row in record["rows"]:
                sizes = reached.setdefault(batching.row_family(row), [])
                if row["accuracy"] >= value:
                    sizes.append((row["batch_size"], 100 * (row["accuracy"] - value)))
            above = [f"{family} (batch {', '.join(str(size) for size, _ in hits)}; "
                     f"{_margin(max(points for _, points in hits))})"
                     for family, hits in reached.items() if hits]
            never = [family for family, hits in reached.items() if not hits]
            line = f"- {name} against {reference} ({100 * value:.2f}%): "
            if above:
                line += "reaches it under " + "; ".join(above)
                if never:
                    line += "; never under " + ", ".join(never)
            else:
                line += "below it under every batch protocol"
            if "anchor" in record:
                gap = 100 * (record["anchor"]["accuracy"] - value)
                line += (f". Anchor mode (inductive): {100 * record['anchor']['accuracy']:.2f}%, "
                         f"{gap:+.2f} points")
            lines.append(line + ".")
    return lines


def protocol_tables(results: dict[str, Any]) -> list[str]:
    """One table per student of the protocol stage: accuracy (and batch-graph homophily) for
    every protocol and batch size."""
    found = results["protocols"]
    sizes = found["batch_sizes"]
    references = ", ".join(f"{name} {100 * value:.2f}"
                           for name, value in protocol_references(results).items())
    lines = ["", "## Protocols: what a batch-mode number measures", "",
             f"Test accuracy (%) of each student (seed {found['seed']}) when the "
             f"{found['test_images']:,} test images are formed into batches in different ways, "
             "by batch size; in brackets, the edge homophily of the batch graphs. Every batch "
             "protocol is transductive (the test images of a batch see each other); anchor mode "
             "is inductive. Unchanged by batching (each image alone): " + references + "."]
    for name, record in found["students"].items():
        lines += ["", f"### {name}", "", "| protocol | " + " | ".join(map(str, sizes)) + " |",
                  "|---|" + "---|" * len(sizes)]
        table: dict[str, dict[int, str]] = {}
        for row in record["rows"]:
            family = batching.row_family(row)
            cell = f"{100 * row['accuracy']:.2f}"
            if "homophily" in row:
                cell += f" ({row['homophily']:.2f})"
            table.setdefault(family, {})[row["batch_size"]] = cell
        for family, cells in table.items():
            lines.append(f"| {family} | " + " | ".join(cells.get(b, "-") for b in sizes) + " |")
        if "anchor" in record:
            lines += ["", f"Anchor mode: {100 * record['anchor']['accuracy']:.2f} "
                      f"({record['anchor']['description']})."]
    verdict = protocol_verdict(found, protocol_references(results))
    if verdict:
        lines += ["", "### Where a graph student reaches a per-image model", "", *verdict]
    return lines
