"""Shared fixtures: the real Fashion-MNIST splits, the CIFAR-10 JPEG copy where it exists, and
private artifact/cache folders."""
import os
from pathlib import Path

import pytest

from cnn2gnn_lib import data, training

# Read before any test clears it: development and CI point CNN2GNN_DATA at ../shared/data.
SHARED_DATA = os.environ.get("CNN2GNN_DATA")


@pytest.fixture(scope="session")
def cifar10_jpeg_root() -> Path:
    """The CIFAR-10 JPEG copy (``$CNN2GNN_DATA/cifar10-jpeg``), or the test is skipped."""
    root = Path(SHARED_DATA).expanduser() / "cifar10-jpeg" if SHARED_DATA else None
    if root is None or not (root / "train").is_dir():
        pytest.skip("CIFAR-10 JPEG copy not found: set CNN2GNN_DATA to a folder holding "
                    f"cifar10-jpeg/{{train,test}}/<class>/*.jpg (CNN2GNN_DATA={SHARED_DATA!r}; "
                    "../shared/data in development and CI)")
    return root


@pytest.fixture(scope="session")
def fmnist_train():
    return data.load_dataset("fashion-mnist", "train")


@pytest.fixture(scope="session")
def fmnist_test():
    return data.load_dataset("fashion-mnist", "test")


@pytest.fixture(scope="session")
def fast_teacher(tmp_path_factory):
    """One fast-mode Fashion-MNIST teacher, trained once for every test that reads one:
    ``(result, artifacts folder)``."""
    out = tmp_path_factory.mktemp("fast-teacher")
    cfg = training.TeacherConfig.for_budget(fast=True)
    return training.train_teacher(cfg, device="cpu", out_dir=out, progress=False), out


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    """Every test writes checkpoints and caches into its own temporary folder."""
    monkeypatch.setenv("CNN2GNN_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CNN2GNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CNN2GNN_DATA", raising=False)
    monkeypatch.delenv("CNN2GNN_DEVICE", raising=False)
    return tmp_path
