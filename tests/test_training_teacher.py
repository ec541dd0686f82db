"""Teacher training (cnn2gnn_lib.training.teacher): learning, checkpoints, reuse, cached logits."""
import pytest
import torch

from cnn2gnn_lib import data, training
from cnn2gnn_lib.training import teacher as teacher_module

TINY = dict(arch="resnet20", epochs=2, train_per_class=20, test_per_class=10, batch_size=32)


def _tiny(**overrides):
    return training.TeacherConfig(**{**TINY, **overrides})


def test_fast_mode_teacher_learns(fast_teacher):
    result, _ = fast_teacher
    assert result.config.train_per_class == 300 and result.metrics["test_images"] == 1000
    # chance is 10%; the held-out test images must be classified far better
    assert result.metrics["test_accuracy"] > 0.6
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert len(result.history) == result.config.epochs


def test_checkpoint_round_trip_gives_identical_logits(fast_teacher, fmnist_test):
    result, _ = fast_teacher
    images = data.balanced_subset(fmnist_test, 5)
    loaded = training.load_teacher(result.path, device="cpu")
    assert loaded.loaded and not result.loaded
    assert loaded.config == result.config and loaded.metrics == result.metrics
    assert loaded.history == result.history
    assert torch.equal(training.predict(result.model, images, device="cpu"),
                       training.predict(loaded.model, images, device="cpu"))


def test_train_or_load_reuses_only_a_matching_config(fast_teacher, monkeypatch):
    result, out = fast_teacher
    monkeypatch.setattr(teacher_module, "train_teacher",
                        lambda *a, **k: pytest.fail("retrained a finished run"))
    reused = training.train_or_load(result.config, device="cpu", out_dir=out, progress=False)
    assert reused.loaded and reused.path == result.path

    calls = []
    monkeypatch.setattr(teacher_module, "train_teacher", lambda cfg, *a, **k: calls.append(cfg))
    other = training.TeacherConfig(**{**result.config.to_dict(), "seed": 1})
    training.train_or_load(other, device="cpu", out_dir=out, progress=False)
    assert calls == [other]


def test_a_checkpoint_of_another_config_at_the_same_path_is_not_reused(fast_teacher,
                                                                       monkeypatch):
    """Names are hashes of the configuration; should two ever meet, the stored one is checked."""
    result, out = fast_teacher
    asked = training.TeacherConfig(**{**result.config.to_dict(), "lr": 0.05})
    monkeypatch.setattr(teacher_module, "checkpoint_paths", lambda cfg, out_dir=None: (
        result.path, result.path.with_suffix(".partial.pt")))
    calls = []
    monkeypatch.setattr(teacher_module, "train_teacher", lambda cfg, *a, **k: calls.append(cfg))
    training.train_or_load(asked, "cpu", out, progress=False)
    assert calls == [asked]


def test_training_is_deterministic_under_a_seed(tmp_path):
    first = training.train_teacher(_tiny(), "cpu", tmp_path / "a", progress=False)
    second = training.train_teacher(_tiny(), "cpu", tmp_path / "b", progress=False)
    third = training.train_teacher(_tiny(seed=5), "cpu", tmp_path / "c", progress=False)
    weights = [r.model.state_dict()["backbone.fc.weight"] for r in (first, second, third)]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    reference = training.train_teacher(_tiny(), "cpu", tmp_path / "ref", progress=False)

    real_evaluate, calls = teacher_module.evaluate, []

    def crash_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(teacher_module, "evaluate", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        training.train_teacher(_tiny(), "cpu", tmp_path / "run", progress=False)
    assert len(calls) == 2  # the patched name is the one the loop calls
    final, partial = training.checkpoint_paths(_tiny(), tmp_path / "run")
    assert partial.is_file() and not final.is_file()
    with pytest.raises(RuntimeError, match="unfinished run"):
        training.load_teacher(partial)
    monkeypatch.setattr(teacher_module, "evaluate", real_evaluate)

    resumed = training.train_or_load(_tiny(), "cpu", tmp_path / "run", progress=False)
    assert final.is_file() and not partial.is_file()
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_bad_checkpoints_and_configs_are_named(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(RuntimeError, match="broken.pt is not a readable checkpoint"):
        training.load_teacher(broken)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        training.load_teacher(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="unknown dataset"):
        training.TeacherConfig(dataset="imagenet-22k")
    with pytest.raises(ValueError, match="epochs"):
        training.TeacherConfig(epochs=0)


def test_config_key_changes_with_any_field():
    assert _tiny().key() == _tiny().key()
    assert _tiny().key() != _tiny(lr=0.05).key()
    assert _tiny().name().startswith("fashion-mnist-resnet20-")
    assert _tiny().key() == teacher_module.settings_key(_tiny().to_dict())
    final, partial = training.checkpoint_paths(_tiny(), "somewhere")
    assert final.name == f"{_tiny().name()}.pt" and partial.name == f"{_tiny().name()}.partial.pt"

