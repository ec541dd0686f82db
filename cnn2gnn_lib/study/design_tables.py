"""The design study's tables: every design on validation, the chosen designs on the test split,
their paired comparison and the evidence (chapter 8, "Making the learned graph earn its
place")."""
from __future__ import annotations

from typing import Any

from ..data import dataset_info
from .formatting import batch_protocol, difference_cells, pct as _pct
from .inference import ANCHOR, BATCH
from .names import STUDENT_NAMES


def best_mode(record: dict[str, Any]) -> tuple[str, float]:
    """The inference mode with the best validation accuracy of a design record."""
    return max(record["val"].items(), key=lambda item: item[1])


def _caption(results: dict[str, Any]) -> str:
    designs, chosen, plan = results["designs"], results["chosen"], results["plan"]
    per_class = plan["bank_size"] // dataset_info(plan["dataset"]).num_classes
    return (f"Every design trained once (seed 0, {designs['design_epochs']} epochs, KD with "
            f"T = {chosen['temperature']:g}, alpha = {chosen['alpha']:g}, s = {chosen['s']}) "
            "and judged on the validation split; batch mode: "
            f"{batch_protocol(results, split='validation')} "
            "(a design with its own batch size uses it). Anchor modes use a bank of "
            f"{plan['bank_size']} training images (`anchor-kmeans`: as many k-means centres, "
            f"{per_class} per class, not the compact bank of the efficiency stage); `+labels` "
            "mixes the anchors' labels into the prediction with the weight shown.")


def design_tables(results: dict[str, Any]) -> list[str]:
    """The Markdown of the design study (section "Does the learned graph earn its place?")."""
    designs, plan = results["designs"], results["plan"]
    lines = ["", "## Does the learned graph earn its place? (designs)", "", _caption(results), "",
             "| design | student | what it changes | val, batch (%) | val, anchor (%) | "
             "best mode | val, best (%) | homophily (val batches) | train (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in designs["records"]:
        mode, value = best_mode(r)
        anchor = r["val"].get(ANCHOR.name)
        homophily = r.get("val_batch_homophily")
        lines.append(f"| {r['design']} | {r['student']} | {r['description']} | "
                     f"{100 * r['val'][BATCH.name]:.2f} | "
                     f"{'-' if anchor is None else f'{100 * anchor:.2f}'} | {mode} | "
                     f"{100 * value:.2f} | {'-' if homophily is None else f'{homophily:.3f}'} | "
                     f"{r['train_seconds']:.0f} |")
    finals = designs["finals"]
    lines += ["", "### The chosen designs on the test split", "",
              f"The best design of each student by validation accuracy, trained for "
              f"{designs['final_epochs']} epochs on every seed and tested once; the GNN in the "
              "inference mode it scored best in, the MLP with the same help (the GNN's label "
              "vote, when it chose one).", "",
              "| student | design | inference mode | val, design run (%) | test (%), seeds "
              f"{finals['gnn'].get('seeds', plan['seeds'])} |", "|---|---|---|---|---|"]
    for key in ("gnn", "mlp"):
        f = finals[key]
        lines.append(f"| {STUDENT_NAMES[f['student']]} | {f['design']} | {f['mode']} | "
                     f"{100 * f['design_val_accuracy']:.2f} | {_pct(f['test_accuracy'])} |")
    e = finals["evidence"]
    if "comparison" in finals:
        lines += comparison_lines(finals)
    else:  # a study recorded before the paired comparison existed
        gap = finals["gnn"]["test_accuracy"]["mean"] - finals["mlp"]["test_accuracy"]["mean"]
        overlap = (finals["gnn"]["test_accuracy"]["min"] <= finals["mlp"]["test_accuracy"]["max"]
                   and finals["mlp"]["test_accuracy"]["min"]
                   <= finals["gnn"]["test_accuracy"]["max"])
        lines += ["", f"- GNN minus MLP, mean test accuracy: {100 * gap:+.2f} points; seed "
                  f"ranges {'overlap' if overlap else 'do not overlap'}."]
    lines += [
              f"- Seed 0: the two students disagree on {100 * e['predictions_differ']:.2f}% of "
              f"the {e['test_images']} test images; the GNN is right and the MLP wrong on "
              f"{e['gnn_right_mlp_wrong']}, the reverse on {e['mlp_right_gnn_wrong']}"
              + (f", and both are wrong with different answers on {e['both_wrong_differently']}"
                 if "both_wrong_differently" in e else "") + ".",
              f"- Edge homophily of the GNN's test batches "
              f"({e.get('homophily_protocol', 'test batches')}): "
              f"{e['test_batch_homophily']:.3f}.",
              "", "Per-class test accuracy (seed 0, each student in its chosen inference mode):",
              "", "| class | GNN (%) | MLP (%) |", "|---|---|---|"]
    for name, g, m in zip(e["classes"], e["per_class_gnn"], e["per_class_mlp"]):
        lines.append(f"| {name} | {100 * g:.1f} | {100 * m:.1f} |")
    return lines


def comparison_lines(finals: dict[str, Any]) -> list[str]:
    """The GNN-versus-MLP verdicts: per protocol, both students and their paired difference."""
    seeds = finals["gnn"]["seeds"]
    lines = ["", f"#### GNN against MLP on equal terms (seeds {seeds}, paired)", "",
             "Each protocol gives both students the same help; the difference is taken seed by "
             "seed (same seed, same split and initialisation draw) with its 95% t interval. "
             "An interval that holds zero means no difference.", "",
             "| protocol | help | GNN mode | MLP mode | GNN test (%) | MLP test (%) | "
             "GNN - MLP (points) | 95% interval | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in finals["comparison"]:
        lines.append(f"| {row['name']} | {row['help']} | {row['gnn']} | {row['mlp']} | "
                     f"{_pct(row['gnn_test'])} | {_pct(row['mlp_test'])} | "
                     f"{difference_cells(row['difference'])} |")
    return lines + [""]
