"""Views of a loaded dataset: subsets, normalisation, augmentation, batches, flat features.

Deterministic class-balanced subsets (fast mode) and validation splits, the per-dataset
normalisation, the teacher's crop-and-flip augmentation on whole batches, fixed augmented copies,
batch iteration with tensor operations (on a 2-core CPU several times faster than a per-image
DataLoader) and the flat view that the GNN student takes as node features.
"""
from __future__ import annotations

from typing import Iterator

import torch

from .. import config
from .datasets import DatasetInfo, ImageDataset, load_dataset

# augmented_copies augments this many images at a time: it bounds the float copies of a chunk
# (4 bytes a pixel, against 1 for the uint8 images) held in memory while it is cropped and
# flipped. The random draws are made per chunk, so changing it changes the views a seed gives.
AUGMENT_CHUNK = 4096


# --------------------------------------------------------------------------------------------
# Subsets and splits


def _balanced_positions(dataset: ImageDataset, per_class: int, seed: int) -> torch.Tensor:
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator)
    chosen = []
    for label in range(dataset.info.num_classes):
        members = order[dataset.targets[order] == label]
        if len(members) < per_class:
            raise ValueError(f"class {dataset.classes[label]!r} has {len(members)} images in "
                             f"the {dataset.split} split, fewer than per_class={per_class}")
        chosen.append(members[:per_class])
    return torch.cat(chosen).sort().values


def balanced_subset(dataset: ImageDataset, per_class: int | None, seed: int = 0) -> ImageDataset:
    """``per_class`` images of every class, the same ones for the same seed (None: all)."""
    if per_class is None:
        return dataset
    return dataset.select(_balanced_positions(dataset, per_class, seed))


def train_val_split(dataset: ImageDataset, val_per_class: int, seed: int = 0):
    """Split off ``val_per_class`` images per class for validation; returns ``(train, val)``.

    The two parts are disjoint and together hold every image of ``dataset``.
    """
    val_positions = _balanced_positions(dataset, val_per_class, seed)
    keep = torch.ones(len(dataset), dtype=torch.bool)
    keep[val_positions] = False
    return dataset.select(keep.nonzero().squeeze(1)), dataset.select(val_positions)


def load_splits(name: str = "fashion-mnist", root=None, fast: bool | None = None, seed: int = 0):
    """Train and test splits shrunk to the current :func:`config.budget` (deterministic)."""
    budget = config.budget(fast)
    train = balanced_subset(load_dataset(name, "train", root), budget.train_per_class, seed)
    test = balanced_subset(load_dataset(name, "test", root), budget.test_per_class, seed)
    return train, test


# --------------------------------------------------------------------------------------------
# Normalisation, augmentation, batches, flat features


def normalize(images: torch.Tensor, info: DatasetInfo) -> torch.Tensor:
    """Standardise float images in [0, 1] with the dataset's channel mean and std."""
    mean = torch.tensor(info.mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(info.std, device=images.device).view(1, -1, 1, 1)
    return (images - mean) / std


def random_crop_flip(images: torch.Tensor, padding: int, flip: bool,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """The standard small-image augmentation, on a whole batch at once.

    Pads by ``padding`` with zeros, takes a random crop of the original size per image and flips
    half of the images horizontally. ``images`` is ``[B, C, H, W]`` (any float dtype).
    """
    batch = images.shape[0]
    offsets = (torch.randint(0, 2 * padding + 1, (2, batch), generator=generator).T
               if padding > 0 else None)
    flips = torch.rand(batch, generator=generator) < 0.5 if flip else None
    return crop_flip(images, padding, offsets, flips)


def crop_flip(images: torch.Tensor, padding: int, offsets: torch.Tensor | None,
              flips: torch.Tensor | None) -> torch.Tensor:
    """Given crops and flips: pad ``images`` ``[B, C, H, W]`` by ``padding`` with zeros, cut
    each image's window at its ``offsets`` row ``(top, left)`` (``[B, 2]``, each in
    ``[0, 2 * padding]``; ``None``: no crop) and mirror the images whose ``flips`` is true
    (``[B]`` bool; ``None``: no flip)."""
    batch, channels, height, width = images.shape
    out = images
    if padding > 0 and offsets is not None:
        padded = torch.nn.functional.pad(images, (padding,) * 4)
        rows = (offsets[:, 0].view(-1, 1) + torch.arange(height)).to(images.device)
        cols = (offsets[:, 1].view(-1, 1) + torch.arange(width)).to(images.device)
        index = torch.arange(batch, device=images.device).view(-1, 1, 1)
        out = padded.permute(0, 2, 3, 1)[index, rows.unsqueeze(2), cols.unsqueeze(1)]
        out = out.permute(0, 3, 1, 2)
    if flips is not None:
        out = torch.where(flips.to(images.device).view(-1, 1, 1, 1), out.flip(-1), out)
    return out.contiguous()


def augmented_copies(dataset: ImageDataset, views: int, seed: int = 0) -> ImageDataset:
    """``dataset`` followed by ``views`` randomly cropped and flipped copies of it (the
    dataset's own augmentation, drawn once from ``seed``), as uint8 images.

    A fixed set of views lets the teacher's logits on exactly those images be cached, so a
    student can be distilled on the same view the teacher saw. The copies keep the originals'
    ``indices`` and labels; ``split`` names the views, so caches never mix the two.
    """
    if views < 0:
        raise ValueError(f"views must be >= 0, got {views}")
    if views == 0:
        return dataset
    generator = torch.Generator().manual_seed(seed)
    parts = [dataset.images]
    for _ in range(views):
        for start in range(0, len(dataset), AUGMENT_CHUNK):
            batch = dataset.images[start:start + AUGMENT_CHUNK].float()
            parts.append(random_crop_flip(batch, dataset.info.crop_padding,
                                          dataset.info.horizontal_flip, generator
                                          ).round().to(torch.uint8))
    return ImageDataset(torch.cat(parts), dataset.targets.repeat(views + 1), dataset.info,
                        f"{dataset.split}+{views}views-seed{seed}",
                        dataset.indices.repeat(views + 1))


def iterate_batches(dataset: ImageDataset, batch_size: int, shuffle: bool = False,
                    augment: bool = False, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu", drop_last: bool = False
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images float [B, C, H, W] in [0, 1], labels [B])`` on ``device``.

    ``augment`` applies :func:`random_crop_flip` with the dataset's settings. Shuffling and
    augmentation draw only from ``generator``, so a seeded generator makes the epoch repeatable.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        rows = order[start:start + batch_size]
        images = dataset.images[rows].to(device, non_blocking=True).float().div_(255.0)
        if augment:
            images = random_crop_flip(images, dataset.info.crop_padding,
                                      dataset.info.horizontal_flip, generator)
        yield images, dataset.targets[rows].to(device, non_blocking=True)


def num_batches(dataset: ImageDataset, batch_size: int, drop_last: bool = False) -> int:
    if drop_last and len(dataset) >= batch_size:
        return len(dataset) // batch_size
    return -(-len(dataset) // batch_size)


def flat_features(dataset: ImageDataset, normalized: bool = True) -> torch.Tensor:
    """The GNN student's node features: every image flattened to a vector ``[N, C*H*W]``.

    With ``normalized`` the pixels are standardised per channel with the dataset's statistics.
    """
    return flatten_images(dataset.images, dataset.info, normalized)


def flatten_images(images: torch.Tensor, info: DatasetInfo, normalized: bool = True
                   ) -> torch.Tensor:
    """uint8 images ``[N, C, H, W]`` as :func:`flat_features` gives them: ``[N, C*H*W]`` in
    [0, 1], standardised with ``info``'s statistics when ``normalized``."""
    pixels = images.float().div_(255.0)
    if normalized:
        pixels = normalize(pixels, info)
    return pixels.reshape(len(images), -1)
