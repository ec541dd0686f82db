"""cnn2gnn_lib.data.sources: IDX files, Fashion-MNIST search, torchvision, image folders."""
import gzip
import shutil

import numpy as np
import pytest
import torch

from cnn2gnn_lib import data
from cnn2gnn_lib.data import sources

DEBIAN = data.DEBIAN_FASHION_MNIST


def _copy_split(target, split="test", unpack=False):
    target.mkdir(parents=True, exist_ok=True)
    for stem in data._FMNIST_FILES[split]:
        source = DEBIAN / f"{stem}.gz"
        if unpack:
            with gzip.open(source) as handle:
                (target / stem).write_bytes(handle.read())
        else:
            shutil.copy(source, target / f"{stem}.gz")


def test_root_and_env_folders_are_searched_first(tmp_path, monkeypatch, fmnist_test):
    _copy_split(tmp_path / "mine", unpack=True)
    from_root = data.load_dataset("fashion-mnist", "test", root=tmp_path / "mine")
    assert torch.equal(from_root.images, fmnist_test.images)
    _copy_split(tmp_path / "env" / "FashionMNIST" / "raw")
    monkeypatch.setenv("CNN2GNN_DATA", str(tmp_path / "env"))
    assert torch.equal(data.load_dataset("fmnist", "test").targets, fmnist_test.targets)


def test_truncated_file_is_named(tmp_path):
    _copy_split(tmp_path, unpack=True)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(data.DatasetError, match="t10k-images-idx3-ubyte.*truncated"):
        data.load_dataset("fashion-mnist", "test", root=tmp_path)


def test_damaged_gzip_is_named(tmp_path):
    _copy_split(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(data.DatasetError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_dataset("fashion-mnist", "test", root=tmp_path)


def test_swapped_files_fail_on_magic_number(tmp_path):
    _copy_split(tmp_path, unpack=True)
    images, labels = (tmp_path / s for s in data._FMNIST_FILES["test"])
    images.rename(tmp_path / "x")
    labels.rename(images)
    (tmp_path / "x").rename(labels)
    with pytest.raises(data.DatasetError, match="magic number"):
        data.load_dataset("fashion-mnist", "test", root=tmp_path)


def test_half_a_split_is_an_error(tmp_path):
    _copy_split(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DatasetError, match="t10k-labels-idx1-ubyte.*missing"):
        data.load_dataset("fashion-mnist", "test", root=tmp_path)


def test_nowhere_found_lists_every_place(tmp_path, monkeypatch):
    import torchvision.datasets

    def no_internet(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", no_internet)
    monkeypatch.setenv("CNN2GNN_DATA", str(tmp_path / "env"))
    with pytest.raises(data.DatasetError) as caught:
        data.load_dataset("fashion-mnist", "train", root=tmp_path / "given")
    message = str(caught.value)
    for place in ("given", "env", "no-debian", "torchvision download", "apt-get install"):
        assert place in message


def test_torchvision_datasets_explain_a_failed_download(monkeypatch, tmp_path):
    import torchvision.datasets

    def no_internet(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", no_internet)
    with pytest.raises(data.DatasetError, match="cifar10.*internet"):
        data.load_dataset("cifar10", "train", root=tmp_path)


def test_read_idx_checks_header_against_size(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(np.array([0, 0, 8, 1, 0, 0, 0, 5], dtype=np.uint8).tobytes() + b"\x01\x02")
    with pytest.raises(data.DatasetError, match="header"):
        data.read_idx(path, 2049)


def _write_png_folder(root, dataset, classes, per_class):
    from PIL import Image

    for label in range(classes):
        folder = root / f"n{label:08d}"
        folder.mkdir(parents=True)
        members = (dataset.targets == label).nonzero().squeeze(1)[:per_class]
        for position, index in enumerate(members.tolist()):
            Image.fromarray(dataset.images[index, 0].numpy()).save(folder / f"{position:04d}.png")


def test_image_folder_split_is_deterministic(tmp_path, fmnist_test):
    _write_png_folder(tmp_path / "imgs", fmnist_test, classes=4, per_class=12)
    train = data.load_image_folder(tmp_path / "imgs", "train", image_size=28)
    test = data.load_image_folder(tmp_path / "imgs", "test", image_size=28, cache=False)
    assert train[0].shape == (40, 3, 28, 28) and test[0].shape == (8, 3, 28, 28)
    assert torch.bincount(test[1]).tolist() == [2, 2, 2, 2]
    again = data.load_image_folder(tmp_path / "imgs", "test", image_size=28)  # written to cache
    assert torch.equal(again[0], test[0])
    members = (fmnist_test.targets == 0).nonzero().squeeze(1)
    # the 6th file of class 0 (0005.png) is its first test image; grey becomes equal RGB channels
    assert torch.equal(test[0][0, 1], fmnist_test.images[members[5], 0])


def test_mini_imagenet_layout_errors(tmp_path, fmnist_test, monkeypatch):
    _write_png_folder(tmp_path / "mini", fmnist_test, classes=3, per_class=3)
    with pytest.raises(data.DatasetError, match="3 class sub-folders, expected 100"):
        data.load_dataset("mini-imagenet", "train", root=tmp_path / "mini")
    with pytest.raises(data.DatasetError, match="needs a folder you provide.*absent"):
        data.load_dataset("mini-imagenet", "train", root=tmp_path / "absent")
    (tmp_path / "mini" / "n00000000" / "0001.png").write_bytes(b"not a png")
    with pytest.raises(data.DatasetError, match="0001.png is not a readable image"):
        data.load_image_folder(tmp_path / "mini", "train", image_size=28, cache=False)
    monkeypatch.delenv("CNN2GNN_DATA", raising=False)
    with pytest.raises(data.DatasetError, match="CNN2GNN_DATA"):
        data.load_dataset("mini-imagenet", "train")
