"""cnn2gnn_lib.training.pretrained: shipped teachers are used only when they match exactly and
are intact."""
import json

import pytest
import torch

from cnn2gnn_lib import training
from cnn2gnn_lib.training import pretrained, teacher

TINY = dict(epochs=1, train_per_class=20, test_per_class=10, batch_size=32)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny finished teacher, shipped into a folder of its own."""
    folder = tmp_path_factory.mktemp("pretrained")
    cfg = training.TeacherConfig(**TINY)
    result = training.train_teacher(cfg, "cpu", tmp_path_factory.mktemp("trained"),
                                    progress=False)
    entry = pretrained.ship(result.path, folder)
    return cfg, result, folder, entry


def test_ship_records_hash_config_and_accuracy(shipped):
    cfg, result, folder, entry = shipped
    stored = json.loads((folder / pretrained.INDEX_FILE).read_text())
    assert stored[result.path.name] == entry
    assert entry["sha256"] == pretrained.sha256(folder / result.path.name)
    assert entry["config"] == cfg.to_dict() and entry["device"] == "cpu"
    assert entry["test_accuracy"] == result.metrics["test_accuracy"]


def test_train_or_load_uses_a_matching_shipped_teacher(shipped, monkeypatch, capsys):
    cfg, result, folder, _ = shipped
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", folder)

    def no_training(*args, **kwargs):
        raise AssertionError("trained although a shipped teacher matches")

    monkeypatch.setattr(teacher, "train_teacher", no_training)
    loaded = training.train_or_load(cfg, "cpu")
    assert "shipped with the library" in capsys.readouterr().out
    assert loaded.loaded and loaded.config == cfg
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name].cpu(), tensor.cpu()), name
    # any other configuration trains instead (a different seed here)
    other = training.TeacherConfig(**{**TINY, "seed": 1})
    with pytest.raises(AssertionError, match="trained although"):
        training.train_or_load(other, "cpu")


def test_a_damaged_shipped_teacher_is_never_used(shipped, tmp_path, monkeypatch):
    cfg, result, folder, _ = shipped
    copy = tmp_path / "pretrained"
    copy.mkdir()
    for path in folder.iterdir():
        copy.joinpath(path.name).write_bytes(path.read_bytes())
    damaged = bytearray((copy / result.path.name).read_bytes())
    damaged[-100] ^= 0xFF
    (copy / result.path.name).write_bytes(bytes(damaged))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", copy)
    with pytest.raises(pretrained.PretrainedError, match="SHA-256.*damaged or was replaced"):
        training.train_or_load(cfg, "cpu")
    (copy / result.path.name).unlink()
    with pytest.raises(pretrained.PretrainedError, match="missing"):
        training.train_or_load(cfg, "cpu")


def test_the_shipped_teachers_are_intact_full_mode_runs():
    entries = pretrained.index()
    for name, entry in entries.items():
        path = pretrained.PRETRAINED_DIR / name
        assert pretrained.sha256(path) == entry["sha256"], name
        cfg = training.TeacherConfig(**entry["config"])
        assert cfg.train_per_class is None and cfg.test_per_class is None  # full mode
        assert path.stat().st_size < 4 * 2**20
