import json
import subprocess
import sys

import pytest

from cnn2gnn_lib import cli


def _cli(*args, env_extra=None, cwd=None):
    import os

    env = {**os.environ, "CNN2GNN_FAST": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "cnn2gnn_lib", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


def test_help_lists_the_commands(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "train-teacher" in out and "info" in out


def test_train_teacher_end_to_end(tmp_path):
    out = tmp_path / "art"
    args = ("train-teacher", "--dataset", "fashion-mnist", "--arch", "resnet20", "--epochs", "1",
            "--out", str(out), "--no-progress", "--json", "--device", "cpu")
    # run from another folder: the package must import from anywhere once installed
    first = _cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "test accuracy" in first.stdout and "fast mode" in first.stdout
    report = json.loads(first.stdout[first.stdout.index("{"):])
    assert report["config"]["epochs"] == 1 and 0.0 <= report["metrics"]["test_accuracy"] <= 1.0
    assert len(list((out / "teachers").glob("*.pt"))) == 1
    second = _cli(*args, cwd=tmp_path)  # reuses the finished checkpoint
    assert second.returncode == 0 and "loaded" in second.stdout


def test_bad_arguments_exit_with_a_message():
    wrong_arch = _cli("train-teacher", "--arch", "vgg11")
    assert wrong_arch.returncode == 2 and "invalid choice: 'vgg11'" in wrong_arch.stderr
    bad_epochs = _cli("train-teacher", "--epochs", "0")
    assert bad_epochs.returncode == 2 and "epochs must be >= 1" in bad_epochs.stderr


def test_info_reports_data_and_dgl():
    result = _cli("info")
    assert result.returncode == 0, result.stderr
    assert "fashion-mnist" in result.stdout and "dgl" in result.stdout
    for name in ("device", "gpu", "precision", "mode", "artifacts", "cache"):
        assert f"{name}: " in result.stdout, name


def test_report_rewrites_results_md_from_results_json(tmp_path, capsys):
    import shutil

    from cnn2gnn_lib import report

    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    shutil.copy(report.REPOSITORY_RESULTS / "fashion-mnist" / "results.json", folder)
    (folder / "results.md").write_text("stale")
    assert cli.main(["report", "--dataset", "fashion-mnist", "--results", str(tmp_path)]) == 0
    results = json.loads((folder / "results.json").read_text())
    assert (folder / "results.md").read_text() == report.markdown(results)
    assert "results.md" in capsys.readouterr().out
    # outside the repository's results/ nothing is shipped into the package
    assert not (tmp_path / "cnn2gnn_lib").exists()
    # a folder without a study says what to run
    assert cli.main(["report", "--dataset", "cifar10-jpeg", "--results", str(tmp_path)]) == 2
    assert "reproduce --dataset cifar10-jpeg" in capsys.readouterr().err


@pytest.mark.parametrize("flag, expected", [([], None), (["--teacher-flip", "no"], False),
                                            (["--teacher-flip", "yes"], True)])
def test_reproduce_passes_the_teacher_flip_switch(monkeypatch, flag, expected):
    seen = {}

    def fake_reproduce(dataset, *args, **overrides):
        seen.update(overrides, dataset=dataset)
        return {"plan": {"dataset": dataset}, "wall_seconds": {"all_stages": 0.0}}

    monkeypatch.setattr(cli, "reproduce", fake_reproduce)
    assert cli.main(["reproduce", "--dataset", "cifar10-jpeg", "--fast", *flag]) == 0
    assert seen["dataset"] == "cifar10-jpeg" and seen["teacher_flip"] is expected


@pytest.mark.parametrize("flags, patient, epochs", [([], None, None), (["--patient"], True, None),
                                                    (["--patient", "--patient-epochs", "7"],
                                                     True, 7)])
def test_reproduce_passes_the_patient_stage_switch(monkeypatch, flags, patient, epochs):
    seen = {}

    def fake_reproduce(dataset, *args, **overrides):
        seen.update(overrides)
        return {"plan": {"dataset": dataset}, "wall_seconds": {"all_stages": 0.0}}

    monkeypatch.setattr(cli, "reproduce", fake_reproduce)
    assert cli.main(["reproduce", "--fast", *flags]) == 0
    assert seen["patient"] is patient and seen["patient_epochs"] == epochs
