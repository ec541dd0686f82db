import json

import pytest

from cnn2gnn_lib import report


def test_load_results_finds_the_study_and_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CNN2GNN_RESULTS", raising=False)
    monkeypatch.setattr(report, "REPOSITORY_RESULTS", tmp_path / "repository" / "results")
    elsewhere = tmp_path / "elsewhere"
    with pytest.raises(FileNotFoundError, match="elsewhere/fashion-mnist/results.json"):
        report.load_results("fashion-mnist", elsewhere)
    folder = elsewhere / "fashion-mnist"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"plan": {"dataset": "fashion-mnist"}}))
    found = report.load_results("fashion-mnist", elsewhere)
    assert found["plan"]["dataset"] == "fashion-mnist"
    assert found["path"] == str(folder / "results.json")
    monkeypatch.setenv("CNN2GNN_RESULTS", str(elsewhere))
    assert report.load_results("fashion-mnist")["path"] == found["path"]
    with pytest.raises(ValueError, match="unknown dataset"):
        report.load_results("imagenet-22k")


def test_load_results_falls_back_to_the_shipped_summary(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CNN2GNN_RESULTS", raising=False)
    monkeypatch.setattr(report, "REPOSITORY_RESULTS", tmp_path / "no-repository")
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(report, "SHIPPED_RESULTS", shipped)
    with pytest.raises(FileNotFoundError, match="shipped"):
        report.load_results("fashion-mnist")
    study = {"plan": {"dataset": "fashion-mnist"}, "wall_seconds": {"all_stages": 1.0},
             "stages": {"final:x": {"seconds": 2.0, "record": {"predictions": [1, 2]}}},
             "designs": {"finals": {"gnn": {"per_seed": [{"predictions": [3], "test": 0.5}]}}}}
    report.ship_summary(study)
    found = report.load_results("fashion-mnist")
    assert "shipped with cnn2gnn_lib" in found["path"]
    assert found["stages"] == {"final:x": {"seconds": 2.0}}
    assert found["designs"]["finals"]["gnn"]["per_seed"] == [{"test": 0.5}]
    with pytest.raises(ValueError, match="not finished"):
        report.ship_summary({"plan": {"dataset": "fashion-mnist"}})


def test_the_shipped_summaries_are_those_of_the_committed_studies():
    """A study rewritten in results/ without reshipping fails here: run
    scripts/ship_results.py (reproduce does it itself when it writes into results/)."""
    for path in sorted(report.REPOSITORY_RESULTS.glob("*/results.json")):
        results = json.loads(path.read_text())
        if "wall_seconds" not in results:
            continue
        shipped = report.SHIPPED_RESULTS / f"{path.parent.name}.json"
        assert json.loads(shipped.read_text()) == report.summary(results), path
        assert report.markdown(json.loads(shipped.read_text())) == report.markdown(results)


def test_overview_puts_the_datasets_side_by_side(tmp_path):
    committed = json.loads((report.SHIPPED_RESULTS / "fashion-mnist.json").read_text())
    colour = json.loads(json.dumps(committed))
    colour["plan"]["dataset"] = "cifar10-jpeg"
    colour["teachers"]["teacher"]["metrics"].update(test_time_flip=True,
                                                     single_view_test_accuracy=0.5)
    colour["designs"]["finals"]["comparison"] = [{
        "name": "alone", "difference": {"mean": -0.012, "ci": [-0.03, 0.006],
                                        "verdict": "no difference"}}]
    for name, study in (("fashion-mnist", committed), ("cifar10-jpeg", colour)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(study))
    (tmp_path / "cifar100").mkdir()  # a study still running: no sections, left out
    (tmp_path / "cifar100" / "results.json").write_text(json.dumps({"plan": {}}))
    studies = report.load_all_results(tmp_path)
    assert list(studies) == ["fashion-mnist", "cifar10-jpeg"]
    table = report.overview_table(studies).splitlines()
    assert table[0] == "| | Fashion-MNIST | CIFAR-10 (JPEG copy) |"
    teacher = next(line for line in table if line.startswith("| teacher (resnet20)"))
    accuracy = 100 * committed["teachers"]["teacher"]["metrics"]["test_accuracy"]
    assert teacher == f"| teacher (resnet20) | {accuracy:.2f} | {accuracy:.2f}, flip-averaged |"
    flip_table = report.teacher_table(colour)
    assert "| resnet20, flip-averaged |" in flip_table
    assert "from one view alone: resnet20 50.00%." in flip_table
    assert "flip-averaged" not in report.teacher_table(committed)
    verdict = next(line for line in table if "final GNN - MLP, alone" in line)
    assert verdict.endswith("| -1.20 [-3.00, +0.60]: no difference |")
    alone = [c for c in committed["designs"]["finals"].get("comparison", [])
             if c["name"] == "alone"]
    if alone:  # the committed study's own verdict in its own column
        difference = alone[0]["difference"]
        assert f"| {100 * difference['mean']:+.2f} [" in verdict
    assert sum("MLP + KD, batch mode" in line for line in table) == 1


def test_compact_bank_table_marks_the_chosen_bank_against_the_full_one():
    def anchor(model, size, bank, rate, test):
        return {"model": model, "bank_size": size, "bank": bank, "flops_per_image": 1e6,
                "images_per_second": rate, "speedup_vs_teacher": rate / 1000,
                "val_accuracy": test, "test_accuracy": test}

    full = anchor("GNN student, anchor mode", 10000, "random", 4000, 0.8728)
    banks = [anchor("GNN student, anchor mode, k-means bank", 500, "kmeans", 30000, 0.8688),
             anchor("GNN student, anchor mode, k-means bank", 1000, "kmeans", 21000, 0.8711)]
    results = {"efficiency": {"records": [full, banks[1]], "compact_banks": banks,
                              "compact_bank_rule": "the rule"}}
    lines = report.compact_bank_table(results).splitlines()
    assert lines[2].startswith("| 10,000 random training images |")
    assert "| 500 k-means centres |" in lines[3] and lines[3].endswith("| -0.40 |")
    assert "| 1,000 k-means centres (chosen) |" in lines[4] and lines[4].endswith("| -0.17 |")
    assert lines[-1].endswith("the rule (seed 0; every bank timed in the same process).")
    # a study recorded before several banks were measured has no such table
    assert report.compact_bank_table({"efficiency": {"records": [full]}}) == ""


def test_efficiency_table_gives_every_flops_count_in_one_unit():
    results = report.load_results("fashion-mnist")
    lines = report.efficiency_table(results).splitlines()
    assert "MFLOPs per image" in lines[0]
    records = results["efficiency"]["records"]
    for line, record in zip(lines[2:], records):
        cell = line.split(" | ")[2]
        assert cell == f"{record['flops_per_image'] / 1e6:,.2f}"  # never "813,056" beside "1.08 M"


def test_sweep_lines_say_how_a_tie_was_broken():
    results = report.load_results("fashion-mnist")
    lines = [line for line in report.markdown(results).splitlines()
             if line.startswith(("- s:", "- temperature:", "- alpha:"))]
    assert len(lines) == 3
    for line, name in zip(lines, ("s", "temperature", "alpha")):
        values = [r["val_accuracy"] for r in results["sweeps"][name]]
        assert ("a tie goes to the first value tried" in line) == \
            (values.count(max(values)) > 1)
        first_best = results["sweeps"][name][values.index(max(values))]["value"]
        assert f"(chosen {first_best:g}" in line  # the sweep really takes the first of a tie
