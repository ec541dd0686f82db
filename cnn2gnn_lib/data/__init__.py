"""Real image datasets, held in memory, with the views the teacher and the student need.

This package owns everything about data: finding and reading the files, checking them, the
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
* ``cifar10-jpeg`` (works offline where the copy is present): CIFAR-10 stored as JPEG files in
  ``cifar10-jpeg/{train,test}/<class>/`` folders, looked for in ``root``, then
  ``$CNN2GNN_DATA``; its numbers are reported as "CIFAR-10 (JPEG copy)".
* ``cifar10``, ``cifar100``, ``stl10``: through torchvision (downloaded when missing).
* ``mini-imagenet``: a folder you provide, one sub-folder per class holding that class's images
  (``root/n01532829/n0153282900000005.jpg`` ...; 100 class folders, usually 600 images each).
  Images are resized to 84 x 84 and split per class, deterministically, 5/6 train and 1/6 test.

Where things live (every public name is re-exported here, so ``data.load_dataset`` works):

* :mod:`.sources` -- reading files: :func:`read_idx` (IDX files), the Fashion-MNIST folder
  search, the torchvision loaders, :func:`load_image_folder`; and :class:`DatasetError`, which
  they raise;
* :mod:`.folders` -- trees that carry their own split, ``<root>/{train,test}/<class>/*``:
  :func:`load_split_folder` (checked, decoded once, cached by a fingerprint of the file list)
  and :func:`channel_statistics`;
* :mod:`.datasets` -- :class:`DatasetInfo`, :class:`ImageDataset`, the registry
  :data:`DATASETS`, :func:`dataset_info`, :func:`load_dataset` and
  :func:`register_image_folder` (any such tree, by a name of your choice);
* :mod:`.views` -- subsets and splits (:func:`balanced_subset`, :func:`train_val_split`,
  :func:`load_splits`), :func:`normalize`, :func:`random_crop_flip`, :func:`augmented_copies`,
  :func:`iterate_batches`, :func:`num_batches`, :func:`flat_features` and :func:`flatten_images`;
* :mod:`.view_plans` -- fixed random views for patient distillation: :class:`ViewPlan`,
  :func:`draw_views`, :func:`render_views` and :func:`view_dataset`.

:mod:`.view_plans` imports :mod:`.views`, which imports :mod:`.datasets`, which imports
:mod:`.folders` and :mod:`.sources` (:mod:`.folders` imports :mod:`.sources`); nothing imports
back, so there is no import cycle. A name re-exported here is a second binding of the same
object: to patch one (``DEBIAN_FASHION_MNIST`` in a test, say), patch it in its sub-module.
"""
from .datasets import (DATASETS, SPLITS, DatasetInfo, ImageDataset, dataset_info,
                       load_dataset, register_image_folder)
from .folders import channel_statistics, load_split_folder
from .sources import (DEBIAN_FASHION_MNIST, FASHION_MNIST_CLASSES, IMAGE_SUFFIXES,
                      DatasetError, load_image_folder, read_idx)
from .sources import _FMNIST_FILES  # noqa: F401  (private: tests copy the split's files)
from .views import (augmented_copies, balanced_subset, crop_flip, flat_features,
                    flatten_images, iterate_batches, load_splits, normalize, num_batches,
                    random_crop_flip, train_val_split)
from .view_plans import ViewPlan, draw_views, render_views, view_dataset

__all__ = [
    "DATASETS", "DEBIAN_FASHION_MNIST", "DatasetError", "DatasetInfo", "FASHION_MNIST_CLASSES",
    "IMAGE_SUFFIXES", "ImageDataset", "SPLITS", "ViewPlan", "augmented_copies",
    "balanced_subset", "channel_statistics", "crop_flip", "dataset_info", "draw_views",
    "flat_features", "flatten_images", "iterate_batches", "load_dataset",
    "load_image_folder", "load_split_folder", "load_splits", "normalize", "num_batches",
    "random_crop_flip", "read_idx", "register_image_folder", "render_views", "train_val_split",
    "view_dataset",
]
