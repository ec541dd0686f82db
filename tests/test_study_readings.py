"""The readings of chapter 8: paired verdicts over seeds, one-run differences against noise."""
from __future__ import annotations

from cnn2gnn_lib.study.readings import readings
from cnn2gnn_lib.study.stats import mean_std


def _row(student: str, kd: bool, test: list[float], val: list[float]) -> dict:
    per_seed = [{"test_batch_accuracy": t, "val_accuracy": v} for t, v in zip(test, val)]
    return {"student": student, "kd": kd, "seeds": [0, 1, 2], "per_seed": per_seed,
            "test_batch_accuracy": mean_std(test), "val_accuracy": mean_std(val)}


def _results(mlp_kd_gain: float, design_gain: float) -> dict:
    base = [0.880, 0.884, 0.882]
    val = [0.890, 0.892, 0.888]                          # seed std 0.2 points on every row
    rows = [_row("mlp", False, base, val),
            _row("mlp", True, [b + mlp_kd_gain for b in base], val),
            _row("gnn-knn", True, [b - 0.1 for b in base], val),
            _row("gnn-learned", False, [b - 0.02 for b in base], val),
            _row("gnn-learned", True, [b - 0.021 for b in base], val)]
    designs = [{"design": "paper", "student": "gnn-learned",
                "val": {"batch": 0.87, "anchor": 0.87}},
               {"design": "wide", "student": "gnn-learned",
                "val": {"batch": 0.87 + design_gain, "anchor": 0.87}},
               {"design": "mlp", "student": "mlp", "val": {"batch": 0.95}}]
    return {"students": rows,
            "teachers": {"a": {"arch": "resnet20", "metrics": {"test_accuracy": 0.94}},
                         "b": {"arch": "resnet32", "metrics": {"test_accuracy": 0.941}}},
            "sweeps": {"s": [{"value": 3, "val_accuracy": 0.860},
                             {"value": 5, "val_accuracy": 0.861}],
                       "temperature": [{"value": 1, "val_accuracy": 0.85},
                                       {"value": 2, "val_accuracy": 0.87}]},
            "designs": {"records": designs}, "plan": {"batch_size": 256}}


def test_paired_verdicts_follow_the_intervals():
    text = "\n".join(readings(_results(mlp_kd_gain=0.01, design_gain=0.0)))
    assert "- KD, MLP: +1.00 points" in text and "MLP + KD better" in text
    assert "- KD, GNN, learned graph: -0.10 points" in text
    assert "fixed kNN graph (both KD): +7.90 points" in text
    assert "best main row in batch mode (MLP + KD) against the teacher: -4.80 points" in text
    # rows without recorded protocols read as the consecutive batches of those early studies
    assert text.startswith("Paired over seeds (test, batch mode: consecutive test batches of")
    assert "best chosen design" not in text  # no finals recorded


def test_the_best_final_design_is_set_against_the_teacher():
    results = _results(mlp_kd_gain=0.0, design_gain=0.0)
    results["plan"] = {"batch_size": 256}
    results["designs"]["finals"] = {
        "gnn": {"student": "gnn-learned", "design": "wide", "mode": "anchor",
                "test": {"anchor": {"mean": 0.905, "n": 5}}},
        "mlp": {"student": "mlp", "design": "mlp", "mode": "batch",
                "test": {"batch": {"mean": 0.890, "n": 5}}}}
    text = "\n".join(readings(results))
    assert ("best chosen design (GNN, learned graph, wide, anchor, 5 seeds) against the "
            "teacher: -3.50 points") in text


def test_one_run_differences_are_judged_against_the_seed_noise():
    lines = readings(_results(mlp_kd_gain=0.0, design_gain=0.01))
    text = "\n".join(lines)
    assert "pooled: 0.20 points" in text
    assert "the s sweep spans 0.10 points of validation accuracy: within 2" in text
    assert "the temperature sweep spans 2.00 points of validation accuracy: larger" in text
    assert "resnet32 against resnet20 (test): +0.10 points, one training run each" in text
    assert "within 2 seed standard deviations (2 x 0.20 = 0.40 points): unresolved" in text
    assert ("in batch mode by more than 2 seed standard deviations (2 x 0.20 = 0.40 points; "
            "validation, seed 0): wide (+1.00)") in text
    assert "in anchor mode by more than 2 seed standard deviations (2 x 0.20 = 0.40 points; " \
        "validation, seed 0): none" in text
    small = "\n".join(readings(_results(mlp_kd_gain=0.0, design_gain=0.003)))
    assert "validation, seed 0): none; every other difference in batch" in small
    # a margin equal to the threshold as printed is not "more than" it
    tie = "\n".join(readings(_results(mlp_kd_gain=0.0, design_gain=0.00401)))
    assert "validation, seed 0): none; every other difference in batch" in tie
