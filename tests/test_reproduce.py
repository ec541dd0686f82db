import json

import pytest

from cnn2gnn_lib import reproduce


def test_fast_reproduction_end_to_end_with_an_interruption(tmp_path, monkeypatch):
    """The fast study on real images: interrupted once, then finished by a second run that
    reuses every stage the first one completed; results.json, results.md and plots are valid."""
    results_dir, artifacts = tmp_path / "results", tmp_path / "artifacts"
    overrides = dict(seeds=(0, 1))
    real_evaluate, calls = reproduce.Study._evaluate, []

    def crash_on_third_student(self, result):
        calls.append(result.config.name())
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_evaluate(self, result)

    monkeypatch.setattr(reproduce.Study, "_evaluate", crash_on_third_student)
    with pytest.raises(KeyboardInterrupt):
        reproduce.reproduce("fashion-mnist", True, results_dir, artifacts, "cpu",
                            progress=False, **overrides)
    path = results_dir / "fashion-mnist" / "results.json"
    first = json.loads(path.read_text())["stages"]
    assert "teacher:resnet20" in first and "student:mlp:seed=1" in first
    monkeypatch.setattr(reproduce.Study, "_evaluate", real_evaluate)

    results = reproduce.reproduce("fashion-mnist", True, results_dir, artifacts, "cpu",
                                  progress=False, **overrides)
    stored = json.loads(path.read_text())
    assert stored == json.loads(json.dumps(results, default=str))
    for name, stage in first.items():  # finished stages were reused, not run again
        assert stored["stages"][name]["finished"] == stage["finished"], name

    assert stored["mode"] == "fast" and stored["commit"] and stored["machine"]["torch"]
    assert {t["arch"] for t in stored["teachers"].values()} == {"resnet20", "resnet32"}
    assert all(0.1 < t["metrics"]["test_accuracy"] <= 1 for t in stored["teachers"].values())
    rows = {(r["student"], r["kd"]): r for r in stored["students"]}
    assert set(rows) == set(reproduce.KD_ROWS)
    for (kind, _), row in rows.items():
        assert row["seeds"] == [0, 1] and len(row["per_seed"]) == 2
        assert 0.3 < row["test_batch_accuracy"]["mean"] <= 1.0
        assert ("test_anchor_accuracy" in row) == kind.startswith("gnn")
    chosen = stored["chosen"]
    assert chosen["s"] in (5, 10) and chosen["temperature"] in (2.0, 4.0)
    best_s = max(stored["sweeps"]["s"], key=lambda r: r["val_accuracy"])["value"]
    assert chosen["s"] == best_s
    records = {r["model"]: r for r in stored["efficiency"]["records"]}
    assert records["resnet20"]["speedup_vs_teacher"] == 1.0
    assert records["MLP student"]["images_per_second"] > 0
    assert records["resnet20"]["flops_per_image"] > records["MLP student"]["flops_per_image"]
    folder = results_dir / "fashion-mnist"
    table = (folder / "results.md").read_text()
    assert "| GNN, learned graph | yes |" in table and "resnet32" in table
    for plot in ("learning_curves.png", "sweep_s.png", "sweep_temperature.png",
                 "sweep_alpha.png", "efficiency.png", "designs.png", "per_class.png"):
        assert (folder / plot).read_bytes()[:4] == b"\x89PNG"

    # the design study: every design once on validation, the best of each kind on every seed
    designs = stored["designs"]
    names = [r["design"] for r in designs["records"]]
    assert names == [d.name for d in reproduce.GNN_DESIGNS + reproduce.MLP_DESIGNS]
    paper = next(r for r in designs["records"] if r["design"] == "paper")
    sweep = next(r for r in stored["sweeps"]["alpha"] if r["value"] == chosen["alpha"])
    assert paper["val"]["batch"] == sweep["val_accuracy"]  # the sweep's run, reused
    for record in designs["records"]:
        assert 0.1 < record["val"]["batch"] <= 1.0
        if record["student"] == "gnn-learned":
            assert {"anchor", "anchor-kmeans", "anchor+labels:0.5",
                    "anchor+teacher-labels:0.5"} <= set(record["val"])
            assert 0.0 <= record["val_batch_homophily"] <= 1.0
        else:
            assert set(record["val"]) == {"batch"}
    finals = designs["finals"]
    for key, kind in (("gnn", "gnn-learned"), ("mlp", "mlp")):
        final = finals[key]
        best = max((value, r["design"]) for r in designs["records"] if r["student"] == kind
                   for value in r["val"].values())
        assert (final["design_val_accuracy"], final["design"]) == best  # chosen on validation
        assert len(final["per_seed"]) == 2 and 0.1 < final["test_accuracy"]["mean"] <= 1.0
    evidence = finals["evidence"]
    assert len(evidence["per_class_gnn"]) == 10 and evidence["test_images"] == 1000
    assert "Does the learned graph earn its place?" in table

    # a changed plan keeps every stage whose own settings did not change
    again = reproduce.reproduce("fashion-mnist", True, results_dir, artifacts, "cpu",
                                progress=False, designs=False, **overrides)
    assert "designs" not in again or again["plan"]["designs"] is False
    for name, stage in stored["stages"].items():
        assert again["stages"][name]["finished"] == stage["finished"], name


def test_plans():
    fast, full = reproduce.StudyPlan.for_budget(True), reproduce.StudyPlan.for_budget(False)
    assert fast.fast and not full.fast and fast.student_epochs < full.student_epochs
    assert full.seeds == (0, 1, 2) and len(full.s_values) >= 3
    assert reproduce.StudyPlan.for_budget(True, seeds=(4,)).seeds == (4,)
