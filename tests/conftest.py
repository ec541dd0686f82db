"""Shared fixtures: the real Fashion-MNIST splits and private artifact/cache folders."""
import pytest

from cnn2gnn_lib import data


@pytest.fixture(scope="session")
def fmnist_train():
    return data.load_dataset("fashion-mnist", "train")


@pytest.fixture(scope="session")
def fmnist_test():
    return data.load_dataset("fashion-mnist", "test")


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    """Every test writes checkpoints and caches into its own temporary folder."""
    monkeypatch.setenv("CNN2GNN_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("CNN2GNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CNN2GNN_DATA", raising=False)
    monkeypatch.delenv("CNN2GNN_DEVICE", raising=False)
    return tmp_path
