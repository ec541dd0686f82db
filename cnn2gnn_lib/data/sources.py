"""Reading dataset files: IDX files (Fashion-MNIST), torchvision datasets and image folders.

Every loader here returns ``(uint8 images [N, C, H, W], int64 labels [N], class names)`` and
raises :class:`DatasetError`, naming the file and what was expected, when the data cannot be
found or is not what it should be. :mod:`.datasets` registers the loaders by dataset name.

:class:`DatasetError` and :data:`FASHION_MNIST_CLASSES` are defined here, at the bottom layer,
because the loaders need them and :mod:`.datasets` imports the loaders: defining them there
would make the two modules import each other. :mod:`.datasets` re-exports both.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from .. import config

# Where the Debian package dataset-fashion-mnist installs the four gzipped IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

# The labels 0..9 of the Fashion-MNIST files, in order (the names Zalando publishes).
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")


class DatasetError(RuntimeError):
    """A dataset could not be found or its files are not what they should be."""


# --------------------------------------------------------------------------------------------
# IDX files and Fashion-MNIST


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
# Decoded splits, keyed by both files' paths and modification times, so a file replaced on
# disk is read again.
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
        # Imported here, only when the files are nowhere on disk: importing torchvision takes
        # seconds on a small CPU, and the usual offline path never needs it.
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


# --------------------------------------------------------------------------------------------
# torchvision datasets (CIFAR-10, CIFAR-100, STL-10)


def _torchvision_root(root: Path | None) -> Path:
    if root is not None:
        return root
    if os.environ.get("CNN2GNN_DATA"):
        return Path(os.environ["CNN2GNN_DATA"]).expanduser()
    return config.cache_dir()


def _load_torchvision(name: str, split: str, root: Path | None):
    # Imported here so that importing the library (and loading Fashion-MNIST from disk) does
    # not pay for importing torchvision, which takes seconds on a small CPU.
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


# --------------------------------------------------------------------------------------------
# Image folders (mini-ImageNet)


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _class_folders(root: Path, expected_classes: int | None) -> list[Path]:
    """The class sub-folders of ``root``, sorted by name, after checking the layout."""
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
    return class_dirs


def _class_files(class_dirs: list[Path]) -> list[list[Path]]:
    """The image files of every class folder, sorted by name; each class needs at least 2."""
    files_per_class = []
    for folder in class_dirs:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < 2:
            raise DatasetError(f"{folder} holds {len(files)} images (jpg/png); each class "
                               "needs at least 2 to be split into train and test.")
        files_per_class.append(files)
    return files_per_class


def _image_folder_cache_file(files_per_class: list[list[Path]], image_size: int, period: int,
                             split: str) -> Path:
    """Where the decoded split is cached: keyed by the listing (paths and sizes) and settings."""
    listing = "\n".join(f"{p}:{p.stat().st_size}" for files in files_per_class for p in files)
    digest = hashlib.sha1(f"{listing}|{image_size}|{period}".encode()).hexdigest()[:16]
    return config.cache_dir() / f"imagefolder-{digest}-{split}.pt"


def _decode_split(files_per_class: list[list[Path]], split: str, period: int,
                  image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode the files of ``split`` (every ``period``-th file of a class is a test image)."""
    # Imported here: Pillow is needed only to decode image files, so a cached split and the
    # other datasets never import it.
    from PIL import Image, UnidentifiedImageError

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
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def read_cached_split(path: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A decoded split stored by :func:`write_cached_split`, or ``None`` when there is none or
    it is damaged (then the caller decodes again: a cache is never trusted blindly)."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, weights_only=True)
        return stored["images"], stored["labels"]
    except Exception as error:
        print(f"ignoring damaged cache {path.name} ({type(error).__name__}); decoding again")
        return None


def write_cached_split(path: Path, content: dict) -> None:
    """Store a decoded split through a temporary file, so an interrupted write never leaves
    half a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(content, partial)
    os.replace(partial, path)


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
    root = Path(root).expanduser()
    class_dirs = _class_folders(root, expected_classes)
    files_per_class = _class_files(class_dirs)
    period = max(2, round(1 / test_fraction))
    cache_file = _image_folder_cache_file(files_per_class, image_size, period, split)
    result = read_cached_split(cache_file) if cache else None
    if result is None:
        result = _decode_split(files_per_class, split, period, image_size)
        if cache:
            write_cached_split(cache_file, {"images": result[0], "labels": result[1]})
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
