import json

import pytest

from cnn2gnn_lib.study.stages import StageLog, compact_json, settings_hash


def test_a_stage_runs_once_and_is_reused_while_its_settings_hold(tmp_path):
    path = tmp_path / "results" / "results.json"
    log, calls = StageLog(path, {"seeds": (0, 1)}, progress=False), []
    record = log.stage("a", {"x": 1}, lambda: calls.append(1) or {"value": 0.5})
    assert record == {"value": 0.5} and calls == [1]
    assert log.stage("a", {"x": 1}, lambda: pytest.fail("ran again")) == {"value": 0.5}

    again = StageLog(path, {"seeds": (0, 1)}, progress=False)  # a new process reads the file
    assert again.stage("a", {"x": 1}, lambda: pytest.fail("ran again")) == {"value": 0.5}
    assert again.stage("a", {"x": 2}, lambda: {"value": 0.7}) == {"value": 0.7}  # new settings
    stored = json.loads(path.read_text())
    assert stored["plan"] == {"seeds": [0, 1]}
    assert stored["stages"]["a"]["key"] == settings_hash({"x": 2})
    assert {"seconds", "finished", "commit"} <= set(stored["stages"]["a"])
    assert not list(path.parent.glob("*.tmp"))


def test_a_new_plan_keeps_the_stages_whose_settings_are_unchanged(tmp_path, capsys):
    path = tmp_path / "results.json"
    StageLog(path, {"seeds": [0]}, progress=False).stage("a", 1, lambda: {"v": 1})
    log = StageLog(path, {"seeds": [0, 1]}, progress=False)
    assert "written for another plan" in capsys.readouterr().out
    assert log.results["plan"] == {"seeds": [0, 1]}
    assert log.stage("a", 1, lambda: pytest.fail("ran again")) == {"v": 1}


def test_a_damaged_results_file_is_named(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{not json")
    with pytest.raises(RuntimeError, match="results.json is not valid JSON"):
        StageLog(path, {}, progress=False)


def test_settings_hash_ignores_key_order_and_tells_values_apart():
    assert settings_hash({"a": 1, "b": 2}) == settings_hash({"b": 2, "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 1.5})
    assert len(settings_hash([1, "x"])) == 12


def test_compact_json_puts_number_lists_on_one_line():
    text = compact_json({"predictions": [1, 2, 3], "names": ["a", "b"]})
    assert '"predictions": [1, 2, 3]' in text
    assert json.loads(text) == {"predictions": [1, 2, 3], "names": ["a", "b"]}
    assert '"a",\n' in text  # lists of strings keep one item per line
