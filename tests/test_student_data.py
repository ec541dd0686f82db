"""Tests of cnn2gnn_lib.student_data on real Fashion-MNIST: splits, teacher rows, anchor banks."""
import pytest
import torch

from cnn2gnn_lib import data, training
from cnn2gnn_lib.student_data import BankData, StudentData, kmeans_bank, student_pool

SMALL = dict(kind="mlp", train_per_class=30, val_per_class=10)
FULL = 60000  # Fashion-MNIST's training split


@pytest.fixture(scope="module")
def split():
    """30 images per class: 20 to train, 10 to validate."""
    return StudentData.from_config(training.StudentConfig(**SMALL))


@pytest.fixture(scope="module")
def augmented():
    """The same images with one augmented view of each training image."""
    return StudentData.from_config(training.StudentConfig(**SMALL, augment_views=1))


@pytest.fixture(scope="module")
def real_batch(fmnist_test):
    subset = data.balanced_subset(fmnist_test, 8, seed=1)
    return data.flat_features(subset), subset.targets


def _position(indices: torch.Tensor, of: torch.Tensor) -> torch.Tensor:
    """Where each of ``of`` sits in ``indices``."""
    return torch.tensor([int((indices == i).nonzero()) for i in of])


def test_splits_are_disjoint_and_of_the_right_sizes(split, fmnist_train):
    assert split.full_train_size == FULL and len(split.pool) == 300
    assert len(split.train_images) == 200 and len(split.val) == 100
    assert split.train is split.train_images and not split.augmented  # no views asked for
    train, val = set(split.train_images.indices.tolist()), set(split.val.indices.tolist())
    assert not train & val and train | val == set(split.pool.indices.tolist())
    for part, per_class in ((split.train_images, 20), (split.val, 10)):
        assert torch.equal(torch.bincount(part.targets), torch.full((10,), per_class))
    assert split.x_train.shape == (200, 784) and split.x_val.shape == (100, 784)
    assert torch.equal(split.y_train, split.train_images.targets)
    assert torch.equal(split.y_val, split.val.targets)
    assert torch.equal(split.x_val, data.flat_features(fmnist_train.select(split.val.indices)))
    assert (split.in_features, split.num_classes) == (784, 10)
    # the pool is the same as student_pool's, and another data_seed draws another one
    pool, size = student_pool("fashion-mnist", 30, 0)
    assert size == FULL and torch.equal(pool.indices, split.pool.indices)
    assert not torch.equal(student_pool("fashion-mnist", 30, 1)[0].indices, pool.indices)


def test_teacher_rows_from_the_full_split_or_the_pool_are_the_same_rows(split):
    torch.manual_seed(0)
    full = torch.randn(FULL, 10)
    from_full = split.teacher_rows(full)
    from_pool = split.teacher_rows(full[split.pool.indices])
    assert torch.equal(from_full, full[split.train_images.indices])  # the training rows, in order
    assert torch.equal(from_pool, from_full)


@pytest.mark.parametrize("rows", [100, 200, FULL - 1])
def test_teacher_rows_reject_other_shapes_naming_them(split, rows):
    with pytest.raises(ValueError, match=rf"got \({rows}, 10\)") as error:
        split.teacher_rows(torch.zeros(rows, 10))
    assert "(60000, 10)" in str(error.value) and "(300, 10)" in str(error.value)
    with pytest.raises(ValueError, match=r"got \(300, 9\)"):
        split.teacher_rows(torch.zeros(300, 9))
    with pytest.raises(ValueError, match="got None"):
        split.teacher_rows(None)


def test_augmented_views_need_logits_on_exactly_the_augmented_set(augmented, split):
    assert augmented.augmented and len(augmented.train) == 400
    assert torch.equal(augmented.train_images.indices, split.train_images.indices)
    assert torch.equal(augmented.train.indices, split.train_images.indices.repeat(2))
    assert torch.equal(augmented.x_train[:200], split.x_train)  # the originals, then the views
    assert not torch.equal(augmented.x_train[200:], split.x_train)
    assert torch.equal(augmented.y_train, split.y_train.repeat(2))
    logits = torch.randn(400, 10)
    assert torch.equal(augmented.teacher_rows(logits), logits)
    for wrong in (torch.randn(FULL, 10), torch.randn(300, 10), torch.randn(200, 10)):
        with pytest.raises(ValueError, match=r"augmented training set.*\(400, 10\)"):
            augmented.teacher_rows(wrong)


def test_random_bank_is_balanced_and_drawn_from_training_images_only(split, fmnist_train):
    bank = split.anchor_bank(50, "random", seed=0)
    assert isinstance(bank, BankData) and len(bank) == 50
    assert torch.equal(torch.bincount(bank.labels), torch.full((10,), 5))
    assert not set(bank.indices.tolist()) & set(split.val.indices.tolist())
    assert set(bank.indices.tolist()) <= set(split.train_images.indices.tolist())
    # real training images: the features and labels of the rows the indices name
    rows = _position(split.train_images.indices, bank.indices)
    assert torch.equal(bank.features, split.x_train[rows])
    assert torch.equal(bank.labels, fmnist_train.targets[bank.indices])
    assert split.anchor_bank(50, "random", seed=0) is bank  # built once
    assert split.anchor_bank(55, "random", seed=0) is bank  # about size: 5 per class either way
    other = split.anchor_bank(50, "random", seed=1)
    assert not torch.equal(other.indices, bank.indices)
    with pytest.raises(ValueError, match="fewer than per_class=30"):
        split.anchor_bank(300, "random")  # 20 training images per class


def test_teacher_probs_of_a_bank(split):
    torch.manual_seed(0)
    full = torch.randn(FULL, 10)
    bank = split.anchor_bank(30, "random", seed=2)
    expected = full[bank.indices].softmax(1)
    assert torch.allclose(split.teacher_probs(bank, full), expected)
    assert torch.allclose(split.teacher_probs(bank, full[split.pool.indices]), expected)
    with pytest.raises(ValueError, match="k-means bank holds centres"):
        split.teacher_probs(split.anchor_bank(30, "kmeans"), full)


def test_kmeans_bank_of_student_data_uses_the_training_images(split):
    bank = split.anchor_bank(30, "kmeans", seed=0)
    assert bank.indices is None and bank.features.shape == (30, 784)
    assert torch.equal(torch.bincount(bank.labels), torch.full((10,), 3))
    expected = kmeans_bank(split.x_train, split.y_train, 3, seed=0)
    assert torch.equal(bank.features, expected.features)
    with pytest.raises(ValueError, match="bank method must be one of.*'best'"):
        split.anchor_bank(20, "best")


def test_choose_bank_random_and_kmeans(real_batch):
    """Ported from the old ``choose_bank``: random real images, then per-class k-means."""
    x, y = real_batch
    start = kmeans_bank(x, y, 2, seed=0, iterations=0)  # the random draw k-means starts from
    assert start.features.shape == (20, 784)
    assert torch.equal(torch.bincount(start.labels), torch.full((10,), 2))
    assert all(any(torch.equal(row, other) for other in x[y == label])  # real images
               for row, label in zip(start.features, start.labels))
    kmeans = kmeans_bank(x, y, 2, seed=0)
    centres, labels = kmeans.features, kmeans.labels
    assert torch.equal(labels, start.labels) and kmeans.indices is None
    assert not torch.equal(centres, start.features)  # Lloyd's rounds moved the centres
    for label in range(10):  # Lloyd's rounds only lower each class's quantisation error
        members = x[y == label]
        error = torch.cdist(members, centres[labels == label]).min(1).values.pow(2).sum()
        before = torch.cdist(members, start.features[labels == label]).min(1).values.pow(2).sum()
        assert error <= before + 1e-3
    # k-means with as many centres as images returns the images themselves
    one_class = y == 0
    exact = kmeans_bank(x[one_class], y[one_class], int(one_class.sum()))
    assert torch.allclose(exact.features.sort(0).values, x[one_class].sort(0).values, atol=1e-5)
    with pytest.raises(ValueError, match="fewer"):
        kmeans_bank(x, y, 20)
    with pytest.raises(ValueError, match="per_class must be >= 1"):
        kmeans_bank(x, y, 0)
    with pytest.raises(ValueError, match="80 feature rows but 79 labels"):
        kmeans_bank(x, y[:79], 2)
