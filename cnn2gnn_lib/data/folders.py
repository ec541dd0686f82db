"""Image-folder trees that come with their own split: ``<root>/{train,test}/<class>/<image>``.

This is how most image datasets are stored on disk (CIFAR-10 as JPEG files, ImageNet-style
exports, a reader's own photos). :func:`load_split_folder` reads one split of such a tree into
uint8 tensors after checking the layout, and :func:`channel_statistics` gives the per-channel
mean and standard deviation of a split (what :func:`~cnn2gnn_lib.data.normalize` needs).

Decoding tens of thousands of JPEG files takes seconds, so each decoded split is cached in the
cache folder (:func:`cnn2gnn_lib.config.cache_dir`) under a fingerprint of its file list: every
file's relative path, size and modification time. A second load reads one tensor file; adding,
removing or replacing any image changes the fingerprint and the split is decoded again.

Everything that can be wrong with a tree raises :class:`~cnn2gnn_lib.data.DatasetError` naming
the problem: a missing split or class folder, train and test with different classes, an empty
class, an unreadable image (with its path), images of different sizes.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import torch
from ..progress import tqdm

from .. import config
from .sources import IMAGE_SUFFIXES, DatasetError, read_cached_split, write_cached_split

LAYOUT = "<root>/{train,test}/<class>/<image>.jpg|png"
ORDERS = ("shuffled", "folder")
# The cached tensor files' format; bump it when what they hold changes.
CACHE_FORMAT = 1
# Decoded splits of this process, keyed by their cache file's name (the fingerprint) and order.
_MEMORY: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]] = {}


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_classes(root: str | os.PathLike) -> tuple[str, ...]:
    """The class names of a tree (its class folders, sorted), after checking both splits agree."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; an image-folder dataset is laid out as "
                           f"{LAYOUT}.")
    names = {}
    for split in ("train", "test"):
        split_dir = root / split
        if not split_dir.is_dir():
            raise DatasetError(f"{root} has no {split}/ folder; an image-folder dataset is laid "
                               f"out as {LAYOUT}.")
        names[split] = [p.name for p in _class_dirs(split_dir)]
        if len(names[split]) < 2:
            raise DatasetError(f"{split_dir} has {len(names[split])} class folders; expected one "
                               "folder per class (at least 2).")
    if names["train"] != names["test"]:
        only_train = sorted(set(names["train"]) - set(names["test"]))
        only_test = sorted(set(names["test"]) - set(names["train"]))
        raise DatasetError(f"{root}: train and test have different classes (only in train: "
                           f"{only_train or 'none'}; only in test: {only_test or 'none'}). Every "
                           "class needs a folder in both splits.")
    return tuple(names["train"])


def _listing(root: Path, split: str, classes: tuple[str, ...]
             ) -> list[list[tuple[str, int, int]]]:
    """Per class, its image files as ``(path, size, mtime_ns)``, sorted by name.

    ``os.scandir`` rather than ``Path.iterdir`` + ``stat``: it lists 60,000 files several
    times faster, which is most of the time a cached load takes.
    """
    files_per_class = []
    for name in classes:
        folder = root / split / name
        files = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES and entry.is_file():
                    stat = entry.stat()
                    files.append((entry.path, stat.st_size, stat.st_mtime_ns))
        if not files:
            raise DatasetError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                               "every class needs at least one image in every split.")
        files_per_class.append(sorted(files))
    return files_per_class


def _fingerprint(root: Path, split: str, files_per_class) -> str:
    digest = hashlib.sha1(f"format {CACHE_FORMAT}|{split}".encode())
    skip = len(str(root)) + 1  # relative paths: a moved tree keeps its cache
    for files in files_per_class:
        digest.update("".join(f"{path[skip:]}:{size}:{mtime}\n" for path, size, mtime in files)
                      .encode())
    return digest.hexdigest()[:20]


def _decode(files_per_class, size: tuple[int, int] | None, desc: str,
            progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    # Imported here: only decoding needs Pillow, a cached split never does.
    from PIL import Image, UnidentifiedImageError

    total = sum(len(files) for files in files_per_class)
    given = size is not None
    images = None
    labels = torch.empty(total, dtype=torch.long)
    bar = tqdm(total=total, desc=desc, unit="img", disable=not progress, mininterval=1.0)
    row = 0
    for label, files in enumerate(files_per_class):
        for path, _, _ in files:
            try:
                with Image.open(path) as img:
                    array = np.array(img.convert("RGB"), dtype=np.uint8)
            except (UnidentifiedImageError, OSError, ValueError) as error:
                raise DatasetError(f"{path} is not a readable image: {error}") from error
            height, width = array.shape[:2]
            if size is None:
                size = (height, width)
            if (height, width) != size:
                seen = ("the dataset's images are" if given else "the images before it are")
                raise DatasetError(f"{path} is {width}x{height} pixels but {seen} "
                                   f"{size[1]}x{size[0]}, expected; every image of an "
                                   "image-folder dataset must have the same size (resize them "
                                   "first).")
            if images is None:
                images = torch.empty(total, 3, *size, dtype=torch.uint8)
            images[row] = torch.from_numpy(array).permute(2, 0, 1)
            labels[row] = label
            row += 1
            bar.update(1)
    bar.close()
    return images, labels


def load_split_folder(root: str | os.PathLike, split: str,
                      image_size: int | tuple[int, int] | None = None, cache: bool = True,
                      progress: bool = True, name: str | None = None,
                      order: str = "shuffled"):
    """Read ``root/<split>/<class>/*`` into ``(uint8 images [N, 3, H, W], labels [N], classes)``.

    Classes are the class folders sorted by name (label 0 is the first). The folders list
    class after class; ``order="shuffled"`` (the default) returns the images in one fixed
    random order instead (a permutation seeded with 0, the same on every machine), as the
    official CIFAR files are stored, so that consecutive images, and hence the batches of a
    batch-dependent model, mix classes unless someone sorts them on purpose.
    ``order="folder"`` keeps the folder order (class after class, files by name).
    ``image_size`` (an int for square images) is checked against every image when given;
    otherwise all images must match the first. With ``cache`` the decoded split is stored in
    :func:`cnn2gnn_lib.config.cache_dir` under the fingerprint of its file list and read from
    there next time.
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; use one of {ORDERS}")
    root = Path(root).expanduser()
    classes = split_classes(root)
    files_per_class = _listing(root, split, classes)
    key = f"splitfolder-{_fingerprint(root, split, files_per_class)}"
    if (key, "folder") not in _MEMORY:
        cache_file = config.cache_dir() / f"{key}.pt"
        found = read_cached_split(cache_file) if cache else None
        if found is None:
            size = (image_size, image_size) if isinstance(image_size, int) else image_size
            began = time.perf_counter()
            found = _decode(files_per_class, size, f"decoding {name or root.name} {split}",
                            progress)
            if progress:
                print(f"decoded {len(found[1])} {split} images of {name or root} in "
                      f"{time.perf_counter() - began:.1f} s"
                      + ("; cached for the next load" if cache else ""))
            if cache:
                write_cached_split(cache_file, {"images": found[0], "labels": found[1],
                                                "classes": list(classes)})
        _MEMORY[key, "folder"] = (*found, classes)
    images, labels, _ = _MEMORY[key, "folder"]
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if tuple(images.shape[2:]) != size:
            raise DatasetError(f"{root / split} holds {images.shape[3]}x{images.shape[2]} images, "
                               f"expected {size[1]}x{size[0]}.")
    if (key, order) not in _MEMORY:  # the shuffled order: permuted once per process
        permutation = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
        _MEMORY[key, order] = (images[permutation], labels[permutation], classes)
    return _MEMORY[key, order]


def channel_statistics(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...],
                                                                          tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images ``[N, C, H, W]``, in [0, 1] units."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].to(torch.float64).div_(255.0)
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    count = images.numel() / channels
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())
