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
from .folders import channel_statistics, load_split_folder, split_classes
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
    # How results name the dataset in prose (e.g. "CIFAR-10 (JPEG copy)"); defaults to ``name``.
    title: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def display_name(self) -> str:
        return self.title or self.name


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
CIFAR10_JPEG_FOLDER = "cifar10-jpeg"


def _find_tree(name: str, folder: str, root: Path | None) -> Path:
    """The image-folder tree of a registered dataset: ``root`` (or ``root/<folder>``), then
    ``$CNN2GNN_DATA/<folder>``; a tree counts when it has a ``train`` folder."""
    candidates = [root, root / folder] if root is not None else []
    if os.environ.get("CNN2GNN_DATA"):
        candidates.append(Path(os.environ["CNN2GNN_DATA"]).expanduser() / folder)
    for candidate in candidates:
        if (candidate / "train").is_dir():
            return candidate
    tried = "\n  - ".join(str(c) for c in candidates) or "(no root given, CNN2GNN_DATA unset)"
    raise DatasetError(f"{name} was not found. Places tried:\n  - {tried}\nFix: pass root=... "
                       f"or set CNN2GNN_DATA to a folder holding {folder}/train/<class>/*.jpg "
                       f"and {folder}/test/<class>/*.jpg.")


def _load_cifar10_jpeg(split: str, root: Path | None):
    tree = _find_tree("cifar10-jpeg", CIFAR10_JPEG_FOLDER, root)
    return load_split_folder(tree, split, image_size=32, name="cifar10-jpeg")


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
        loader=_load_fashion_mnist, title="Fashion-MNIST"),
    "cifar10": DatasetInfo(
        name="cifar10", in_channels=3, image_size=32, classes=_CIFAR10_CLASSES,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        crop_padding=4, horizontal_flip=True,
        loader=lambda s, r: _load_torchvision("cifar10", s, r), title="CIFAR-10"),
    # CIFAR-10 stored as JPEG files in class folders (../shared/data/README.md): the official
    # split, slightly changed pixels, so its numbers are reported as "CIFAR-10 (JPEG copy)".
    # mean / std computed from its training split by channel_statistics (re-checked by
    # tests/test_data_folders.py wherever the copy is present).
    "cifar10-jpeg": DatasetInfo(
        name="cifar10-jpeg", in_channels=3, image_size=32, classes=_CIFAR10_CLASSES,
        mean=(0.4913, 0.4821, 0.4465), std=(0.2452, 0.2428, 0.2606),
        crop_padding=4, horizontal_flip=True, loader=_load_cifar10_jpeg,
        title="CIFAR-10 (JPEG copy)"),
    "cifar100": DatasetInfo(
        name="cifar100", in_channels=3, image_size=32, classes=_HUNDRED_PLACEHOLDER_CLASSES,
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        crop_padding=4, horizontal_flip=True,
        loader=lambda s, r: _load_torchvision("cifar100", s, r), title="CIFAR-100"),
    "stl10": DatasetInfo(
        name="stl10", in_channels=3, image_size=96, classes=_STL10_CLASSES,
        mean=(0.4467, 0.4398, 0.4066), std=(0.2603, 0.2566, 0.2713),
        crop_padding=12, horizontal_flip=True,
        loader=lambda s, r: _load_torchvision("stl10", s, r), title="STL-10"),
    # 84 x 84 is the size mini-ImageNet is used at; its mean / std are those of the full
    # ImageNet training set (the torchvision values), not computed on the mini-ImageNet images.
    "mini-imagenet": DatasetInfo(
        name="mini-imagenet", in_channels=3, image_size=84, classes=_HUNDRED_PLACEHOLDER_CLASSES,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        crop_padding=8, horizontal_flip=True,
        loader=_load_mini_imagenet, title="Mini-ImageNet"),
}


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` for ``name``; an unknown name lists the known ones."""
    key = name.strip().lower().replace("_", "-")
    key = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "miniimagenet": "mini-imagenet", "cifar-10": "cifar10", "cifar-100": "cifar100",
           "stl-10": "stl10", "cifar10jpeg": "cifar10-jpeg",
           "cifar-10-jpeg": "cifar10-jpeg"}.get(key, key)
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


def register_image_folder(name: str, root: str | os.PathLike, crop_padding: int | None = None,
                          horizontal_flip: bool = True, title: str | None = None,
                          progress: bool = True) -> DatasetInfo:
    """Make any tree ``<root>/{train,test}/<class>/<image>`` a dataset known by ``name``.

    The tree is checked and its training split decoded (and cached) once, here: the class
    names come from the folders, the image size from the images, and the per-channel mean and
    standard deviation from the training split. Afterwards ``load_dataset(name, split)``,
    teachers and students take the dataset by name like the built-in ones. ``crop_padding``
    (the augmentation's padding) defaults to an eighth of the image side.
    """
    key = name.strip().lower()
    if key in DATASETS and DATASETS[key].loader.__name__ != "_registered_tree":
        raise ValueError(f"{name!r} is a built-in dataset; register the folder under another "
                         "name")
    root = Path(root).expanduser()
    classes = split_classes(root)
    images, _, _ = load_split_folder(root, "train", progress=progress, name=key)
    if images.shape[2] != images.shape[3]:
        raise DatasetError(f"{root} holds {images.shape[3]}x{images.shape[2]} images; the "
                           "teachers and students expect square images (resize them first).")
    mean, std = channel_statistics(images)
    size = images.shape[2]

    def _registered_tree(split: str, given_root: Path | None):
        return load_split_folder(given_root or root, split, image_size=size, name=key)

    info = DatasetInfo(name=key, in_channels=3, image_size=size, classes=classes, mean=mean,
                       std=std, crop_padding=size // 8 if crop_padding is None else crop_padding,
                       horizontal_flip=horizontal_flip, loader=_registered_tree, title=title)
    DATASETS[key] = info
    return info
