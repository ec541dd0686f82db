"""Fixed random views for patient distillation (cnn2gnn_lib.data.view_plans)."""
import dataclasses

import pytest
import torch

from cnn2gnn_lib import data

CIFAR = data.dataset_info("cifar10-jpeg")      # crop padding 4, horizontal flips
FMNIST = data.dataset_info("fashion-mnist")


def _images(n=12, channels=3, size=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=generator,
                         dtype=torch.uint8)


def _crop(image, padding, top, left, flip):
    """One view by hand: pad, cut the window, mirror."""
    padded = torch.nn.functional.pad(image.float(), (padding,) * 4)
    size = image.shape[-1]
    window = padded[:, top:top + size, left:left + size]
    return window.flip(-1) if flip else window


def test_a_plan_is_fixed_by_its_seed():
    plan = data.draw_views(12, 3, CIFAR, seed=5, mixup=0.4)
    again = data.draw_views(12, 3, CIFAR, seed=5, mixup=0.4)
    other = data.draw_views(12, 3, CIFAR, seed=6, mixup=0.4)
    for name in ("offsets", "flips", "partners", "weights"):
        assert torch.equal(getattr(plan, name), getattr(again, name))
    assert not torch.equal(plan.offsets, other.offsets)
    assert plan.views == 3 and plan.images == 12
    assert plan.key() == "3views-mixup0.4-seed5" != other.key()
    assert plan.offsets.min() >= 0 and plan.offsets.max() <= 2 * CIFAR.crop_padding


def test_view_zero_is_the_image_and_other_views_are_its_crops_and_flips():
    images = _images()
    plan = data.draw_views(len(images), 4, CIFAR, seed=1)
    assert plan.flips.any() and not plan.flips.all()
    assert torch.equal(plan.partners, torch.arange(12).expand(4, 12))
    assert (plan.weights == 1).all()
    rows = torch.tensor([0, 3, 3, 7, 11])
    view_ids = torch.tensor([0, 0, 2, 4, 1])
    out = data.render_views(images, plan, rows, view_ids)
    assert out.dtype == torch.uint8 and out.shape == (5, 3, 8, 8)
    assert torch.equal(out[:2], images[[0, 3]])
    for b in range(2, 5):
        row, slot = int(rows[b]), int(view_ids[b]) - 1
        top, left = plan.offsets[slot, row].tolist()
        expected = _crop(images[row], CIFAR.crop_padding, top, left, bool(plan.flips[slot, row]))
        assert torch.equal(out[b], expected.to(torch.uint8))
    # the same view always has the same pixels
    assert torch.equal(data.render_views(images, plan, rows, view_ids), out)


def test_mixup_blends_each_view_with_another_image():
    images = _images(seed=2)
    plan = data.draw_views(len(images), 2, CIFAR, seed=3, mixup=0.4)
    assert (plan.partners != torch.arange(12)).all()
    assert plan.weights.min() >= 0.5 and plan.weights.max() <= 1 and plan.weights.std() > 0
    row, slot = 4, 1
    out = data.render_views(images, plan, torch.tensor([row]), torch.tensor([slot + 1]))[0]
    partner = int(plan.partners[slot, row])

    def cropped(r):
        top, left = plan.offsets[slot, r].tolist()
        return _crop(images[r], CIFAR.crop_padding, top, left, bool(plan.flips[slot, r]))

    weight = plan.weights[slot, row]
    expected = (weight * cropped(row) + (1 - weight) * cropped(partner)).round()
    assert torch.equal(out, expected.clamp(0, 255).to(torch.uint8))


def test_a_dataset_without_flips_or_crops_gets_neither():
    unflipped = dataclasses.replace(CIFAR, horizontal_flip=False)
    assert data.draw_views(20, 3, CIFAR, seed=0).flips.any()
    assert not data.draw_views(20, 3, unflipped, seed=0).flips.any()
    uncropped = dataclasses.replace(CIFAR, crop_padding=0, horizontal_flip=False)
    images = _images()
    plan = data.draw_views(12, 2, uncropped, seed=0)
    assert torch.equal(data.render_views(images, plan, torch.arange(12), torch.full((12,), 2)),
                       images)


def test_view_dataset_names_its_view():
    images = _images(6, channels=1, size=28)
    dataset = data.ImageDataset(images, torch.arange(6) % 3, FMNIST, "train")
    plan = data.draw_views(6, 2, FMNIST, seed=0)
    assert data.view_dataset(dataset, plan, 0) is dataset
    second = data.view_dataset(dataset, plan, 2)
    assert second.split == f"train+view2-of-{plan.key()}"
    assert torch.equal(second.images, data.render_views(images, plan, torch.arange(6),
                                                        torch.full((6,), 2)))
    assert torch.equal(second.targets, dataset.targets)
    with pytest.raises(ValueError, match=r"view must lie in \[0, 2\]"):
        data.view_dataset(dataset, plan, 3)


def test_bad_plans_and_requests_are_refused():
    with pytest.raises(ValueError, match="at least 1 view"):
        data.draw_views(10, 0, CIFAR)
    with pytest.raises(ValueError, match="mixup must be >= 0"):
        data.draw_views(10, 2, CIFAR, mixup=-1)
    with pytest.raises(ValueError, match="at least 2 images"):
        data.draw_views(1, 2, CIFAR, mixup=0.5)
    plan = data.draw_views(12, 2, CIFAR)
    with pytest.raises(ValueError, match="drawn for 12 images"):
        data.render_views(_images(10), plan, torch.tensor([0]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"view ids must lie in \[0, 2\]"):
        data.render_views(_images(), plan, torch.tensor([0]), torch.tensor([3]))
    with pytest.raises(ValueError, match="differ"):
        data.render_views(_images(), plan, torch.tensor([0, 1]), torch.tensor([1]))
