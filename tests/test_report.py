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
