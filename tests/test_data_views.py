"""cnn2gnn_lib.data.views: subsets, splits, augmentation, batches and the flat view."""
import pytest
import torch

from cnn2gnn_lib import data


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
