"""Checkpoints (cnn2gnn_lib.training.checkpoints): atomic saves, safe loads, the reuse rule."""
import pytest
import torch

from cnn2gnn_lib.training import CHECKPOINT_FORMAT, atomic_save, load_checkpoint, versions
from cnn2gnn_lib.training.checkpoints import resumable_state, run_paths, train_or_load_run

RAN = []


def _side_effect(marker):
    """What a malicious checkpoint would run on load (records that it ran)."""
    RAN.append(marker)
    return {"format": CHECKPOINT_FORMAT}


class Payload:
    """An arbitrary object that, unpickled without weights_only, calls :func:`_side_effect`."""

    def __reduce__(self):
        return _side_effect, ("ran",)


class Plain:
    def __init__(self):
        self.value = 3


def test_atomic_save_and_load_round_trip(tmp_path):
    state = {"format": CHECKPOINT_FORMAT, "config": {"lr": 0.1, "name": "x", "s": None},
             "model": {"w": torch.randn(3, 4)}, "history": [{"epoch": 1, "loss": 0.5}],
             "generator": torch.Generator().manual_seed(1).get_state(), "versions": versions()}
    path = tmp_path / "deep" / "folder" / "run.pt"
    atomic_save(state, path)
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["run.pt"]
    loaded = load_checkpoint(path)
    assert loaded.keys() == state.keys()
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert torch.equal(loaded["generator"], state["generator"])
    assert {k: loaded[k] for k in ("format", "config", "history", "versions")} == {
        k: state[k] for k in ("format", "config", "history", "versions")}
    atomic_save({"format": CHECKPOINT_FORMAT, "epoch": 2}, path)  # replaces the file whole
    assert load_checkpoint(str(path)) == {"format": CHECKPOINT_FORMAT, "epoch": 2}


def test_versions_name_the_libraries():
    info = versions()
    assert info["torch"] == torch.__version__
    assert {"python", "numpy", "torchvision", "machine"} <= info.keys()
    # plain strings: a str subclass such as torch's TorchVersion is refused by a safe load
    assert all(type(v) is str for v in info.values()), {k: type(v) for k, v in info.items()}


def test_a_file_that_stored_torchs_version_object_still_loads(tmp_path):
    """Checkpoints written before versions() stored plain strings hold a TorchVersion."""
    assert type(torch.__version__) is not str  # what such a file stored
    path = tmp_path / "older.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "versions": {"torch": torch.__version__}}, path)
    assert load_checkpoint(path)["versions"]["torch"] == str(torch.__version__)


@pytest.mark.parametrize("content, message", [
    (b"definitely not a checkpoint", "is not a readable checkpoint"),
    ({"format": CHECKPOINT_FORMAT + 1, "model": {}}, "is not a cnn2gnn checkpoint of format"),
    ({"model": {}}, "is not a cnn2gnn checkpoint of format"),
    (torch.zeros(3), "is not a cnn2gnn checkpoint of format"),
    ([{"format": CHECKPOINT_FORMAT}], "is not a cnn2gnn checkpoint of format")])
def test_what_is_not_a_checkpoint_is_refused_by_path(tmp_path, content, message):
    path = tmp_path / "odd-file.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(RuntimeError, match=f"odd-file.pt {message}"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("payload", [Payload, Plain])
def test_a_pickled_object_is_refused_not_run(tmp_path, payload):
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": payload()}, path)
    RAN.clear()
    with pytest.raises(RuntimeError, match="evil.pt is not a readable checkpoint"):
        load_checkpoint(path)
    assert RAN == []
    if payload is Payload:  # the file would run code without weights_only: the test is real
        torch.load(path, weights_only=False)
        assert RAN == ["ran"]


def test_train_or_load_run_loads_only_what_matches(tmp_path):
    final = tmp_path / "run.pt"
    calls = []

    def run(matching):
        return train_or_load_run(final, lambda path: calls.append(("load", path)) or "loaded",
                                 lambda result: calls.append(("match", result)) or matching,
                                 lambda: calls.append(("train",)) or "trained")

    assert run(True) == "trained" and calls == [("train",)]  # nothing to load yet
    calls.clear()
    final.write_bytes(b"a finished run")
    assert run(True) == "loaded"
    assert calls == [("load", final), ("match", "loaded")]
    calls.clear()
    assert run(False) == "trained"
    assert calls == [("load", final), ("match", "loaded"), ("train",)]


def test_resumable_state_only_for_the_same_settings(tmp_path):
    partial = tmp_path / "run.partial.pt"
    settings = {"lr": 0.1, "epochs": 3}
    assert resumable_state(partial, settings) is None  # no partial checkpoint
    atomic_save({"format": CHECKPOINT_FORMAT, "config": {"lr": 0.2, "epochs": 3}, "epoch": 1},
                partial)
    assert resumable_state(partial, settings) is None
    assert resumable_state(partial, {"lr": 0.2, "epochs": 3})["epoch"] == 1
    atomic_save({"format": CHECKPOINT_FORMAT, "config": settings, "epoch": 2}, partial)
    assert resumable_state(partial, settings)["epoch"] == 2
    assert resumable_state(partial, {**settings, "seed": 1}) is None


def test_run_paths_are_under_the_artifacts_folder(tmp_path, monkeypatch):
    assert run_paths("students", "abc", tmp_path) == (tmp_path / "students" / "abc.pt",
                                                      tmp_path / "students" / "abc.partial.pt")
    monkeypatch.setenv("CNN2GNN_ARTIFACTS", str(tmp_path / "env"))
    assert run_paths("teachers", "t")[0] == tmp_path / "env" / "teachers" / "t.pt"
