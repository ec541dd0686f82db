"""cnn2gnn_lib.data.folders: image-folder trees with their own split, CIFAR-10 (JPEG copy).

Layout and error cases run on small trees of real Fashion-MNIST images written as PNG (always
available); the CIFAR-10 tests read the JPEG copy through CNN2GNN_DATA and are skipped, saying
why, where it is absent.
"""
import shutil

import pytest
import torch

from cnn2gnn_lib import data
from cnn2gnn_lib.data import datasets, folders


@pytest.fixture(autouse=True)
def forget_registered():
    """Names registered by a test do not outlive it. (Decoded splits stay in memory: each
    tree here is new, and the CIFAR training split is decoded once for the whole run.)"""
    yield
    for name in [n for n in data.DATASETS if n.startswith("tiny")]:
        del data.DATASETS[name]


def _write_tree(root, dataset, classes=3, per_split=(5, 2), size=None):
    """root/{train,test}/class<k>/<n>.png from real Fashion-MNIST images."""
    from PIL import Image

    for label in range(classes):
        members = (dataset.targets == label).nonzero().squeeze(1).tolist()
        start = 0
        for split, count in zip(("train", "test"), per_split):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for n, index in enumerate(members[start:start + count]):
                image = Image.fromarray(dataset.images[index, 0].numpy())
                if size:
                    image = image.resize((size, size))
                image.save(folder / f"{n:04d}.png")
            start += count
    return root


def test_tree_loads_by_registered_name(tmp_path, fmnist_test):
    tree = _write_tree(tmp_path / "tree", fmnist_test)
    info = data.register_image_folder("tiny", tree, progress=False)
    assert info.classes == ("class0", "class1", "class2") and info.image_size == 28
    assert info.crop_padding == 3 and info.in_channels == 3
    train = data.load_dataset("tiny", "train")
    test = data.load_dataset("tiny", "test")
    assert sorted(test.targets.tolist()) == [0, 0, 1, 1, 2, 2]
    train, test = (folders.load_split_folder(tree, split, order="folder", progress=False)
                   for split in ("train", "test"))
    train, test = (data.ImageDataset(*part[:2], info, split)
                   for part, split in ((train, "train"), (test, "test")))
    assert train.images.shape == (15, 3, 28, 28) and test.images.shape == (6, 3, 28, 28)
    assert train.class_counts().tolist() == [5, 5, 5]
    assert test.targets.tolist() == [0, 0, 1, 1, 2, 2]
    # grey PNGs become three equal channels holding the original pixels, in file-name order
    first = (fmnist_test.targets == 0).nonzero()[0, 0]
    assert torch.equal(train.images[0, 2], fmnist_test.images[first, 0])
    mean, std = folders.channel_statistics(train.images)
    pixels = train.images.double() / 255
    assert mean[0] == pytest.approx(pixels.mean().item(), abs=1e-4)
    assert std[0] == pytest.approx(pixels.std(unbiased=False).item(), abs=1e-4)
    assert info.mean == mean and info.std == std
    with pytest.raises(ValueError, match="built-in"):
        data.register_image_folder("cifar10", tree)


def test_second_load_reads_the_cache_and_a_changed_tree_is_decoded_again(tmp_path, fmnist_test,
                                                                           monkeypatch):
    tree = _write_tree(tmp_path / "tree", fmnist_test)
    first = folders.load_split_folder(tree, "train", progress=False, order="folder")
    cached = list((tmp_path / "cache").glob("splitfolder-*.pt"))
    assert len(cached) == 1
    decoded = []
    real_decode = folders._decode
    monkeypatch.setattr(folders, "_decode", lambda *a: decoded.append(1) or real_decode(*a))
    monkeypatch.setattr(folders, "_MEMORY", {})  # as a new process would
    again = folders.load_split_folder(tree, "train", progress=False, order="folder")
    assert decoded == [] and torch.equal(again[0], first[0]) and again[2] == first[2]
    # replace one image: the fingerprint changes, so the tree is decoded again
    shutil.copy(tree / "train" / "class1" / "0000.png", tree / "train" / "class0" / "0000.png")
    changed = folders.load_split_folder(tree, "train", progress=False, order="folder")
    assert decoded == [1] and not torch.equal(changed[0], first[0])
    assert torch.equal(changed[0][0], first[0][5])


def test_damaged_cache_is_decoded_again(tmp_path, fmnist_test, capsys, monkeypatch):
    tree = _write_tree(tmp_path / "tree", fmnist_test)
    first = folders.load_split_folder(tree, "test", progress=False)
    (cache_file,) = (tmp_path / "cache").glob("splitfolder-*.pt")
    cache_file.write_bytes(b"garbage")
    monkeypatch.setattr(folders, "_MEMORY", {})
    assert torch.equal(folders.load_split_folder(tree, "test", progress=False)[0], first[0])
    assert "damaged cache" in capsys.readouterr().out


def test_layout_errors_name_the_problem(tmp_path, fmnist_test):
    tree = _write_tree(tmp_path / "tree", fmnist_test)
    with pytest.raises(data.DatasetError, match="not a folder"):
        folders.load_split_folder(tmp_path / "absent", "train")
    shutil.rmtree(tree / "test" / "class2")
    with pytest.raises(data.DatasetError, match=r"different classes.*only in train: \['class2'\]"):
        folders.load_split_folder(tree, "train")
    shutil.rmtree(tree / "test")
    with pytest.raises(data.DatasetError, match="has no test/ folder"):
        folders.load_split_folder(tree, "train")


def test_empty_class_corrupt_image_and_mixed_sizes_are_named(tmp_path, fmnist_test):
    tree = _write_tree(tmp_path / "tree", fmnist_test)
    for path in (tree / "test" / "class1").iterdir():
        path.unlink()
    with pytest.raises(data.DatasetError, match=r"test/class1 holds no images"):
        folders.load_split_folder(tree, "test")
    tree = _write_tree(tmp_path / "tree2", fmnist_test)
    (tree / "train" / "class2" / "0003.png").write_bytes(b"not a png")
    with pytest.raises(data.DatasetError, match=r"class2/0003.png is not a readable image"):
        folders.load_split_folder(tree, "train", progress=False)
    tree = _write_tree(tmp_path / "tree3", fmnist_test)
    small = _write_tree(tmp_path / "small", fmnist_test, size=16)
    shutil.copy(small / "train" / "class1" / "0002.png", tree / "train" / "class1" / "0002.png")
    with pytest.raises(data.DatasetError, match=r"class1/0002.png is 16x16 pixels but the images "
                                                r"before it are 28x28, expected"):
        folders.load_split_folder(tree, "train", progress=False)
    with pytest.raises(data.DatasetError, match="0000.png is 28x28 pixels but the dataset's "
                                                "images are 32x32"):
        folders.load_split_folder(tmp_path / "tree3", "test", image_size=32, progress=False)


def test_cifar10_jpeg_not_found_says_where_it_looked(tmp_path):
    with pytest.raises(data.DatasetError, match=r"cifar10-jpeg was not found(.|\n)*nowhere"
                                                r"(.|\n)*CNN2GNN_DATA"):
        data.load_dataset("cifar10-jpeg", "test", root=tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------
# The real CIFAR-10 JPEG copy (skipped without it)


def test_cifar10_jpeg_test_split(cifar10_jpeg_root, monkeypatch):
    monkeypatch.setenv("CNN2GNN_DATA", str(cifar10_jpeg_root.parent))
    test = data.load_dataset("cifar-10-jpeg", "test")
    assert test.images.shape == (10000, 3, 32, 32) and test.images.dtype == torch.uint8
    assert test.class_counts().tolist() == [1000] * 10
    assert test.classes == list(datasets._CIFAR10_CLASSES)
    assert test.info.display_name == "CIFAR-10 (JPEG copy)"
    assert int(test.images.min()) == 0 and int(test.images.max()) == 255
    # the folders list class after class; the dataset comes in one fixed shuffled order
    folder_order = folders.load_split_folder(cifar10_jpeg_root, "test", progress=False,
                                             order="folder")
    assert torch.equal(folder_order[1], torch.arange(10).repeat_interleave(1000))
    assert (test.targets[:100].bincount(minlength=10) > 0).all()
    permutation = torch.randperm(10000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(test.images, folder_order[0][permutation])
    # found through root= as well, from the cache this time
    fingerprints = {k[0] for k, v in folders._MEMORY.items() if v[0] is test.images}
    for key in [k for k in folders._MEMORY if k[0] in fingerprints]:
        del folders._MEMORY[key]
    again = data.load_dataset("cifar10-jpeg", "test", root=cifar10_jpeg_root)
    assert torch.equal(again.images, test.images)
    fast_train, fast_test = data.load_splits("cifar10-jpeg", root=cifar10_jpeg_root, fast=True)
    assert fast_test.class_counts().tolist() == [100] * 10
    assert fast_train.class_counts().tolist() == [300] * 10


def test_cifar10_jpeg_recorded_statistics_are_its_training_split(cifar10_jpeg_root):
    images, labels, classes = folders.load_split_folder(cifar10_jpeg_root, "train",
                                                        image_size=32, progress=False)
    assert images.shape == (50000, 3, 32, 32)
    assert torch.bincount(labels).tolist() == [5000] * 10
    info = data.dataset_info("cifar10-jpeg")
    assert folders.channel_statistics(images) == (info.mean, info.std)
