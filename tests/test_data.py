import gzip
import shutil

import numpy as np
import pytest
import torch

from cnn2gnn_lib import data

DEBIAN = data.DEBIAN_FASHION_MNIST


def test_fashion_mnist_splits_are_the_real_files(fmnist_train, fmnist_test):
    assert fmnist_train.images.shape == (60000, 1, 28, 28)
    assert fmnist_test.images.shape == (10000, 1, 28, 28)
    assert fmnist_train.images.dtype == torch.uint8
    assert fmnist_train.class_counts().tolist() == [6000] * 10
    assert fmnist_test.class_counts().tolist() == [1000] * 10
    assert fmnist_train.classes[0] == "T-shirt/top" and fmnist_train.classes[9] == "Ankle boot"
    # real photographs use the whole grey range and are not constant
    assert fmnist_train.images.min() == 0 and fmnist_train.images.max() == 255
    assert fmnist_train.images.float().std() > 50


def test_items_are_float_images_in_unit_range(fmnist_test):
    image, label = fmnist_test[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert isinstance(label, int) and label == int(fmnist_test.targets[0])


def test_stored_normalisation_matches_the_training_split(fmnist_train):
    pixels = fmnist_train.images.float() / 255
    assert pixels.mean().item() == pytest.approx(fmnist_train.info.mean[0], abs=1e-3)
    assert pixels.std().item() == pytest.approx(fmnist_train.info.std[0], abs=1e-3)


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

    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", no_internet)
    monkeypatch.setenv("CNN2GNN_DATA", str(tmp_path / "env"))
    with pytest.raises(data.DatasetError) as caught:
        data.load_dataset("fashion-mnist", "train", root=tmp_path / "given")
    message = str(caught.value)
    for place in ("given", "env", "no-debian", "torchvision download", "apt-get install"):
        assert place in message


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown dataset 'mnist-color'.*fashion-mnist"):
        data.load_dataset("mnist-color")
    with pytest.raises(ValueError, match="unknown split"):
        data.load_dataset("fashion-mnist", "validation")


def test_torchvision_datasets_explain_a_failed_download(monkeypatch, tmp_path):
    import torchvision.datasets

    def no_internet(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", no_internet)
    with pytest.raises(data.DatasetError, match="cifar10.*internet"):
        data.load_dataset("cifar10", "train", root=tmp_path)


def test_balanced_subset_is_deterministic_and_balanced(fmnist_train):
    first = data.balanced_subset(fmnist_train, 30, seed=1)
    again = data.balanced_subset(fmnist_train, 30, seed=1)
    other = data.balanced_subset(fmnist_train, 30, seed=2)
    assert first.class_counts().tolist() == [30] * 10
    assert torch.equal(first.indices, again.indices)
    assert not torch.equal(first.indices, other.indices)
    assert torch.equal(first.images, fmnist_train.images[first.indices])
    with pytest.raises(ValueError, match="fewer than per_class"):
        data.balanced_subset(fmnist_train, 6001)


def test_train_val_split_is_disjoint_and_complete(fmnist_test):
    train, val = data.train_val_split(fmnist_test, 100, seed=0)
    assert val.class_counts().tolist() == [100] * 10
    assert len(train) + len(val) == len(fmnist_test)
    assert not set(train.indices.tolist()) & set(val.indices.tolist())


def test_crop_flip_moves_pixels_without_inventing_them(fmnist_test):
    images = fmnist_test.images[:64].float() / 255
    assert torch.equal(data.random_crop_flip(images, 0, False), images)
    generator = torch.Generator().manual_seed(0)
    out = data.random_crop_flip(images, 2, True, generator)
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(8):  # every output is one of the 50 crops/flips of its padded input
        candidates = [padded[i, :, r:r + 28, c:c + 28] for r in range(5) for c in range(5)]
        candidates += [c.flip(-1) for c in candidates]
        assert any(torch.equal(out[i], c) for c in candidates)
    assert not torch.equal(out, images)


def test_iterate_batches_sees_every_image_once(fmnist_test):
    subset = data.balanced_subset(fmnist_test, 10)
    generator = torch.Generator().manual_seed(0)
    labels = torch.cat([y for _, y in data.iterate_batches(subset, 32, shuffle=True,
                                                           generator=generator)])
    assert sorted(labels.tolist()) == sorted(subset.targets.tolist())
    assert data.num_batches(subset, 32) == 4
    assert len(list(data.iterate_batches(subset, 32, drop_last=True))) == 3


def test_iterate_batches_repeats_under_a_seed(fmnist_test):
    subset = data.balanced_subset(fmnist_test, 10)

    def epoch(seed):
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([x for x, _ in data.iterate_batches(subset, 16, True, True, generator)])

    assert torch.equal(epoch(3), epoch(3))
    assert not torch.equal(epoch(3), epoch(4))


def test_flat_view_for_the_student(fmnist_train):
    subset = data.balanced_subset(fmnist_train, 200)
    flat = data.flat_features(subset)
    assert flat.shape == (2000, 784)
    assert abs(flat.mean().item()) < 0.05 and abs(flat.std().item() - 1) < 0.05
    raw = data.flat_features(subset, normalized=False)
    assert torch.equal(raw[5], subset[5][0].reshape(-1))


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


def test_read_idx_checks_header_against_size(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(np.array([0, 0, 8, 1, 0, 0, 0, 5], dtype=np.uint8).tobytes() + b"\x01\x02")
    with pytest.raises(data.DatasetError, match="header"):
        data.read_idx(path, 2049)


def test_augmented_copies_follow_the_originals(fmnist_test):
    subset = data.balanced_subset(fmnist_test, 5, seed=0)
    views = data.augmented_copies(subset, 2, seed=3)
    assert len(views) == 150 and views.images.dtype == torch.uint8
    assert torch.equal(views.images[:50], subset.images)  # the originals come first
    assert torch.equal(views.targets, subset.targets.repeat(3))
    assert torch.equal(views.indices, subset.indices.repeat(3))
    assert not torch.equal(views.images[50:100], subset.images)
    # the same seed draws the same views (so the teacher logits on them can be cached)
    assert torch.equal(data.augmented_copies(subset, 2, seed=3).images, views.images)
    assert views.split != subset.split
    assert data.augmented_copies(subset, 0) is subset
    with pytest.raises(ValueError, match="views"):
        data.augmented_copies(subset, -1)
