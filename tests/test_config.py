import random

import numpy as np
import pytest
import torch

from cnn2gnn_lib import config


@pytest.mark.parametrize("fast, ci, expected", [
    ("1", None, True), ("0", "true", False), (None, "true", True), (None, None, False),
    ("yes", None, True), ("off", "1", False)])
def test_fast_mode_follows_env(monkeypatch, fast, ci, expected):
    for name, value in (("CNN2GNN_FAST", fast), ("CI", ci)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert config.fast_mode() is expected
    assert config.budget().fast is expected


def test_fast_mode_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("CNN2GNN_FAST", "maybe")
    with pytest.raises(ValueError, match="CNN2GNN_FAST"):
        config.fast_mode()


def test_fast_budget_is_smaller_than_full():
    fast, full = config.budget(True), config.budget(False)
    assert fast.train_per_class is not None and full.train_per_class is None
    assert fast.teacher_epochs < full.teacher_epochs
    assert fast.student_epochs < full.student_epochs


def test_seed_everything_repeats_every_generator():
    def draw():
        generator = config.seed_everything(123)
        return (random.random(), np.random.rand(), torch.rand(3).tolist(),
                torch.rand(2, generator=generator).tolist())

    assert draw() == draw()
    config.seed_everything(124)
    other = torch.rand(1).item()
    config.seed_everything(123)
    assert torch.rand(1).item() != other


def test_seed_must_be_non_negative_int():
    with pytest.raises(ValueError):
        config.seed_everything(-1)


def test_pick_device(monkeypatch):
    assert config.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("CNN2GNN_DEVICE", "cpu")
    assert config.pick_device() == torch.device("cpu")
    monkeypatch.delenv("CNN2GNN_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if config._mps_available() else "cpu")
    assert config.pick_device().type == expected
    with pytest.raises(RuntimeError):
        config.pick_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_pick_device_refuses_missing_cuda():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        config.pick_device("cuda")


def test_artifacts_dir_is_created(tmp_path):
    folder = config.artifacts_dir(tmp_path / "x" / "y")
    assert folder.is_dir()
