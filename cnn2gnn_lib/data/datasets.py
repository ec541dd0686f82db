"""The dataset types and the registry: what each supported dataset is and how to load it.

:class:`DatasetInfo` holds a dataset's static facts (shape, classes, normalisation,
augmentation and its loader), :data:`DATASETS` registers one per name, and :func:`load_dataset`
turns a split into an :class:`ImageDataset` held in memory. The loaders live in
:mod:`.sources`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

# DatasetError and FASHION_MNIST_CLASSES are defined in .sources (the loaders raise and return
# them) and re-exported from here.
from .sources import (FASHION_MNIST_CLASSES, DatasetError, _load_fashion_mnist,
                      _load_mini_imagenet, _load_torchvision)

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: shape, classes, normalisation and augmentation."""

    name: str
    in_channels: int
    image_size: int
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int
    horizontal_flip: bool
    loader: Callable[[str, Path | None], tuple[torch.Tensor, torch.Tensor, Sequence[str]]]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class ImageDataset(Dataset):
    """Images and labels held in memory as tensors.

    Attributes: ``images`` (uint8 ``[N, C, H, W]``), ``targets`` (int64 ``[N]``), ``classes``
    (names), ``info`` (the :class:`DatasetInfo`), ``split`` and ``indices`` (positions in the
    full split, so a subset can say where it came from).
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, info: DatasetInfo,
                 split: str, indices: torch.Tensor | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} "
                             f"{tuple(images.shape)}")
        if targets.dim() != 1 or len(targets) != len(images):
            raise ValueError(f"{len(images)} images but labels of shape {tuple(targets.shape)}")
        self.images = images
        self.targets = targets.long()
        self.info = info
        self.split = split
        self.indices = torch.arange(len(images)) if indices is None else indices

    classes = property(lambda self: list(self.info.classes))
    name = property(lambda self: self.info.name)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float().div_(255.0), int(self.targets[index])

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return (f"ImageDataset({self.name!r}, split={self.split!r}, {len(self)} images "
                f"{c}x{h}x{w}, {self.info.num_classes} classes)")

    def select(self, positions: torch.Tensor) -> "ImageDataset":
        """A new dataset holding the rows at ``positions`` (shares no storage with this one)."""
        positions = torch.as_tensor(positions, dtype=torch.long)
        return ImageDataset(self.images[positions].clone(), self.targets[positions].clone(),
                            self.info, self.split, self.indices[positions].clone())

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.targets, minlength=self.info.num_classes)


# --------------------------------------------------------------------------------------------
# The registry

_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                    "ship", "truck")
_STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                  "truck")
# Placeholders for 100 classes: load_dataset replaces them with the names the loader returns
# (torchvision's CIFAR-100 names, the mini-ImageNet folder names).
_HUNDRED_PLACEHOLDER_CLASSES = tuple(f"class {i}" for i in range(100))

# mean / std: per-channel statistics of each training split's pixels in [0, 1], the widely used
# values; the Fashion-MNIST ones are re-computed from the files in tests/test_data_datasets.py.
DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist", in_channels=1, image_size=28, classes=FASHION_MNIST_CLASSES,
        mean=(0.2860,), std=(0.3530,),
        crop_padding=2, horizontal_flip=True,
        loader=_load_fashion_mnist),
    "cifar10": DatasetInfo(
        name="cifar10", in_channels=3, image_size=32, classes=_CIFAR10_CLASSES,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        crop_padding=4, horizontal_flip=True,
        loader=lambda s, r: _load_torchvision("cifar10", s, r)),
    "cifar100": DatasetInfo(
        name="cifar100", in_channels=3, image_size=32, classes=_HUNDRED_PLACEHOLDER_CLASSES,
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        crop_padding=4, horizontal_flip=True,
        loader=lambda s, r: _load_torchvision("cifar100", s, r)),
    "stl10": DatasetInfo(
        name="stl10", in_channels=3, image_size=96, classes=_STL10_CLASSES,
        mean=(0.4467, 0.4398, 0.4066), std=(0.2603, 0.2566, 0.2713),
        crop_padding=12, horizontal_flip=True,
        loader=lambda s, r: _load_torchvision("stl10", s, r)),
    # 84 x 84 is the size mini-ImageNet is used at; its mean / std are those of the full
    # ImageNet training set (the torchvision values), not computed on the mini-ImageNet images.
    "mini-imagenet": DatasetInfo(
        name="mini-imagenet", in_channels=3, image_size=84, classes=_HUNDRED_PLACEHOLDER_CLASSES,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        crop_padding=8, horizontal_flip=True,
        loader=_load_mini_imagenet),
}


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` for ``name``; an unknown name lists the known ones."""
    key = name.strip().lower().replace("_", "-")
    key = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "miniimagenet": "mini-imagenet", "cifar-10": "cifar10", "cifar-100": "cifar100",
           "stl-10": "stl10"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[key]


def load_dataset(name: str = "fashion-mnist", split: str = "train",
                 root: str | os.PathLike | None = None) -> ImageDataset:
    """Load a whole split of a dataset into memory.

    Returns an :class:`ImageDataset` whose items are ``(float image C x H x W in [0, 1], label)``
    and whose ``.classes`` lists the class names. ``split`` is ``"train"`` or ``"test"``.
    """
    info = dataset_info(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    images, labels, classes = info.loader(split, Path(root).expanduser() if root else None)
    if len(classes) != info.num_classes or tuple(classes) != info.classes:
        info = DatasetInfo(**{**info.__dict__, "classes": tuple(classes)})
    if images.shape[1] != info.in_channels:
        raise DatasetError(f"{info.name} images have {images.shape[1]} channels, expected "
                           f"{info.in_channels}.")
    return ImageDataset(images, labels, info, split)
