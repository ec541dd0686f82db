"""Real image datasets, held in memory, with the views the teacher and the student need.

This module owns everything about data: finding and reading the files, checking them, the
deterministic subsets of fast mode, per-dataset normalisation, the teacher's augmentations and
the flat view that the GNN student takes as node features.

Every dataset becomes an :class:`ImageDataset`: uint8 images ``[N, C, H, W]`` and int64 labels in
memory. Indexing it gives ``(float image C x H x W in [0, 1], int label)`` like any torch
Dataset, and :func:`iterate_batches` gives whole augmented batches with tensor operations, which
on a 2-core CPU is several times faster than a per-image DataLoader.

Supported names (:data:`DATASETS`):

* ``fashion-mnist`` (default; works offline): looked for in ``root``, then ``$CNN2GNN_DATA``,
  then ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``), then
  downloaded by torchvision into the cache folder where there is internet.
* ``cifar10``, ``cifar100``, ``stl10``: through torchvision (downloaded when missing).
* ``mini-imagenet``: a folder you provide, one sub-folder per class holding that class's images
  (``root/n01532829/n0153282900000005.jpg`` ...; 100 class folders, usually 600 images each).
  Images are resized to 84 x 84 and split per class, deterministically, 5/6 train and 1/6 test.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from . import config

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")


class DatasetError(RuntimeError):
    """A dataset could not be found or its files are not what they should be."""


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
# Reading files


def _open_maybe_gzip(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"cannot read {path}: {error} (the file is damaged or truncated; "
                           "reinstall or re-download it)") from error


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """Read an IDX file (the MNIST family's format), plain or gzipped, and check its header.

    ``expected_magic`` is 2049 for label files (8-byte header) and 2051 for image files
    (16-byte header). Any mismatch in magic number or size raises :class:`DatasetError`
    naming the file and what was expected.
    """
    path = Path(path)
    raw = _open_maybe_gzip(path)
    ndim = {2049: 1, 2051: 3}[expected_magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is {len(raw)} bytes, shorter than an IDX header "
                           f"({header} bytes); the file is truncated.")
    magic = struct.unpack(">i", raw[:4])[0]
    if magic != expected_magic:
        kind = "labels" if expected_magic == 2049 else "images"
        raise DatasetError(f"{path} has magic number {magic}, expected {expected_magic} for an "
                           f"IDX {kind} file; it is not the file it is named after.")
    dims = struct.unpack(">" + "i" * ndim, raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DatasetError(f"{path} holds {len(raw)} bytes but its header {dims} needs "
                           f"{expected}; the file is truncated or damaged.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


_FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_FMNIST_COUNTS = {"train": 60000, "test": 10000}
_MEMORY: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _fashion_mnist_folders(root: Path | None) -> list[Path]:
    folders: list[Path] = []
    bases = [root] if root is not None else []
    if os.environ.get("CNN2GNN_DATA"):
        bases.append(Path(os.environ["CNN2GNN_DATA"]).expanduser())
    for base in bases:
        folders += [base, base / "fashion-mnist", base / "FashionMNIST" / "raw"]
    folders.append(DEBIAN_FASHION_MNIST)
    return folders


def _read_fashion_mnist_folder(folder: Path, split: str):
    image_stem, label_stem = _FMNIST_FILES[split]
    image_path, label_path = _find_file(folder, image_stem), _find_file(folder, label_stem)
    if image_path is None and label_path is None:
        return None
    if image_path is None or label_path is None:
        missing = image_stem if image_path is None else label_stem
        raise DatasetError(f"{folder} holds only half of the Fashion-MNIST {split} split: "
                           f"{missing}(.gz) is missing.")
    key = (str(image_path), image_path.stat().st_mtime, str(label_path), label_path.stat().st_mtime)
    if key not in _MEMORY:
        images = read_idx(image_path, 2051)
        labels = read_idx(label_path, 2049)
        if len(images) != len(labels):
            raise DatasetError(f"{image_path} has {len(images)} images but {label_path} has "
                               f"{len(labels)} labels.")
        if images.shape[1:] != (28, 28):
            raise DatasetError(f"{image_path} holds {images.shape[1:]} images, expected 28x28.")
        if len(images) != _FMNIST_COUNTS[split]:
            raise DatasetError(f"{image_path} holds {len(images)} images, expected "
                               f"{_FMNIST_COUNTS[split]} for the Fashion-MNIST {split} split.")
        if labels.max() > 9:
            raise DatasetError(f"{label_path} has label {labels.max()}, expected 0..9.")
        _MEMORY[key] = (torch.from_numpy(images.copy()).unsqueeze(1),
                        torch.from_numpy(labels.astype(np.int64)))
    return _MEMORY[key]


def _load_fashion_mnist(split: str, root: Path | None):
    tried = []
    for folder in _fashion_mnist_folders(root):
        tried.append(str(folder))
        found = _read_fashion_mnist_folder(folder, split)
        if found is not None:
            return (*found, FASHION_MNIST_CLASSES)
    download_root = root or config.cache_dir()
    tried.append(f"torchvision download into {download_root}")
    try:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(str(download_root), train=(split == "train"), download=True)
        found = _read_fashion_mnist_folder(Path(download_root) / "FashionMNIST" / "raw", split)
        if found is not None:
            return (*found, FASHION_MNIST_CLASSES)
        reason = "torchvision reported success but the files are not there"
    except Exception as error:  # no internet, read-only folder, ...
        reason = f"{type(error).__name__}: {error}"
    places = "\n  - ".join(tried)
    raise DatasetError(
        f"Fashion-MNIST ({split}) was not found. Places tried:\n  - {places}\n"
        f"The download failed ({reason}).\nFix: on Debian/Ubuntu run "
        "`sudo apt-get install dataset-fashion-mnist`, or put the four idx files "
        "(train-images-idx3-ubyte.gz ...) in a folder and pass root=... or set CNN2GNN_DATA.")


def _torchvision_root(root: Path | None) -> Path:
    if root is not None:
        return root
    if os.environ.get("CNN2GNN_DATA"):
        return Path(os.environ["CNN2GNN_DATA"]).expanduser()
    return config.cache_dir()


def _load_torchvision(name: str, split: str, root: Path | None):
    from torchvision import datasets

    folder = _torchvision_root(root)
    try:
        if name == "stl10":
            ds = datasets.STL10(str(folder), split=split, download=True)
            images, labels = torch.from_numpy(ds.data), torch.from_numpy(ds.labels.astype(np.int64))
        else:
            cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
            ds = cls(str(folder), train=(split == "train"), download=True)
            images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
            labels = torch.as_tensor(ds.targets, dtype=torch.long)
    except Exception as error:
        raise DatasetError(f"{name} ({split}) could not be loaded from or downloaded into "
                           f"{folder}: {type(error).__name__}: {error}. It needs internet the "
                           "first time (e.g. on Colab), or the torchvision files in that folder "
                           "(pass root=... or set CNN2GNN_DATA).") from error
    return images, labels, list(ds.classes)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def load_image_folder(root: str | os.PathLike, split: str, image_size: int,
                      expected_classes: int | None = None, test_fraction: float = 1 / 6,
                      cache: bool = True):
    """Read ``root/<class>/<image>`` into uint8 tensors, split per class deterministically.

    Within each class the files are sorted by name and every ``round(1/test_fraction)``-th file
    (starting with the last of each block) goes to the test split, so the split never depends on
    a random seed or on file-system order. Images are converted to RGB and resized (bilinear) to
    ``image_size`` square. The decoded arrays are cached in the cache folder, keyed by the
    folder's listing, so the second call does not decode the JPEGs again.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder. Expected a folder with one sub-folder per "
                           "class, each holding that class's images (jpg/png).")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DatasetError(f"{root} has {len(class_dirs)} class sub-folders; expected one "
                           "sub-folder per class (e.g. root/n01532829/*.jpg).")
    if expected_classes is not None and len(class_dirs) != expected_classes:
        raise DatasetError(f"{root} has {len(class_dirs)} class sub-folders, expected "
                           f"{expected_classes}.")
    files_per_class = []
    for folder in class_dirs:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < 2:
            raise DatasetError(f"{folder} holds {len(files)} images (jpg/png); each class "
                               "needs at least 2 to be split into train and test.")
        files_per_class.append(files)
    period = max(2, round(1 / test_fraction))
    listing = "\n".join(f"{p}:{p.stat().st_size}" for files in files_per_class for p in files)
    digest = hashlib.sha1(f"{listing}|{image_size}|{period}".encode()).hexdigest()[:16]
    cache_file = config.cache_dir() / f"imagefolder-{digest}-{split}.pt"
    if cache and cache_file.is_file():
        stored = torch.load(cache_file, weights_only=True)
        return stored["images"], stored["labels"], [p.name for p in class_dirs]
    images, labels = [], []
    for label, files in enumerate(files_per_class):
        for position, path in enumerate(files):
            is_test = position % period == period - 1
            if is_test != (split == "test"):
                continue
            try:
                with Image.open(path) as img:
                    img = img.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
                    array = np.asarray(img, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as error:
                raise DatasetError(f"{path} is not a readable image: {error}") from error
            images.append(torch.from_numpy(array.copy()).permute(2, 0, 1))
            labels.append(label)
    result = torch.stack(images), torch.tensor(labels, dtype=torch.long)
    if cache:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": result[0], "labels": result[1]}, cache_file)
    return (*result, [p.name for p in class_dirs])


def _load_mini_imagenet(split: str, root: Path | None):
    if root is None:
        env = os.environ.get("CNN2GNN_DATA")
        root = Path(env).expanduser() / "mini-imagenet" if env else None
    if root is None or not root.is_dir():
        raise DatasetError(
            f"mini-imagenet needs a folder you provide (tried {root}); pass root=... or set "
            "CNN2GNN_DATA so that $CNN2GNN_DATA/mini-imagenet/<class>/<image>.jpg exists "
            "(100 class folders).")
    return load_image_folder(root, split, image_size=84, expected_classes=100)


FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                    "ship", "truck")
_STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                  "truck")

# Channel statistics of each training split (the widely used values; the Fashion-MNIST ones are
# re-computed from the files in tests/test_data.py).
DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo("fashion-mnist", 1, 28, FASHION_MNIST_CLASSES, (0.2860,),
                                 (0.3530,), 2, True, _load_fashion_mnist),
    "cifar10": DatasetInfo("cifar10", 3, 32, _CIFAR10_CLASSES, (0.4914, 0.4822, 0.4465),
                           (0.2470, 0.2435, 0.2616), 4, True,
                           lambda s, r: _load_torchvision("cifar10", s, r)),
    "cifar100": DatasetInfo("cifar100", 3, 32, tuple(f"class {i}" for i in range(100)),
                            (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 4, True,
                            lambda s, r: _load_torchvision("cifar100", s, r)),
    "stl10": DatasetInfo("stl10", 3, 96, _STL10_CLASSES, (0.4467, 0.4398, 0.4066),
                         (0.2603, 0.2566, 0.2713), 12, True,
                         lambda s, r: _load_torchvision("stl10", s, r)),
    "mini-imagenet": DatasetInfo("mini-imagenet", 3, 84, tuple(f"class {i}" for i in range(100)),
                                 (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 8, True,
                                 _load_mini_imagenet),
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
    plan = config.budget(fast)
    train = balanced_subset(load_dataset(name, "train", root), plan.train_per_class, seed)
    test = balanced_subset(load_dataset(name, "test", root), plan.test_per_class, seed)
    return train, test


# --------------------------------------------------------------------------------------------
# Views: normalisation, augmentation, batches, flat features


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
    batch, channels, height, width = images.shape
    out = images
    if padding > 0:
        padded = torch.nn.functional.pad(images, (padding,) * 4)
        offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator)
        rows = (offsets[0].view(-1, 1) + torch.arange(height)).to(images.device)
        cols = (offsets[1].view(-1, 1) + torch.arange(width)).to(images.device)
        index = torch.arange(batch, device=images.device).view(-1, 1, 1)
        out = padded.permute(0, 2, 3, 1)[index, rows.unsqueeze(2), cols.unsqueeze(1)]
        out = out.permute(0, 3, 1, 2)
    if flip:
        flips = (torch.rand(batch, generator=generator) < 0.5).to(images.device)
        out = torch.where(flips.view(-1, 1, 1, 1), out.flip(-1), out)
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
        for start in range(0, len(dataset), 4096):
            batch = dataset.images[start:start + 4096].float()
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
    images = dataset.images.float().div_(255.0)
    if normalized:
        images = normalize(images, dataset.info)
    return images.reshape(len(dataset), -1)
