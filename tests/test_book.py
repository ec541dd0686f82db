from cnn2gnn_lib import book


def test_environment_names_what_the_machine_offers(tmp_path, monkeypatch, capsys):
    found = book.check_environment(device="cpu", fast=True)
    assert found["device"] == "cpu" and found["gpu"].startswith("none")
    assert "float32" in found["precision"] and found["mode"] == "fast"
    assert "60000 images" in found["fashion-mnist"]
    assert found["artifacts"].startswith("writable")
    assert "precision: mixed precision: float32" in capsys.readouterr().out


def test_a_folder_that_cannot_be_created_is_reported(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert book._writable(blocker / "sub").startswith("NOT writable")
    assert book._writable(tmp_path / "fine").startswith("writable")
