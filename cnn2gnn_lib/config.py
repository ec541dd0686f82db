"""Run-wide settings: the fast-mode switch, seeding, device choice and artifact folders.

Everything that shrinks a run for CI or a quick look at a chapter is decided here, in one place:
:func:`budget` returns the sizes (images per class, epochs) for the current mode, and every other
module asks it instead of reading environment variables itself.

Fast mode is on when ``CNN2GNN_FAST=1``; when the variable is unset it follows ``CI`` (CI machines
set ``CI=true``), so the test suite and the notebooks run small in CI and full size elsewhere.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def fast_mode() -> bool:
    """Return True when runs should be shrunk (``CNN2GNN_FAST``, else ``CI``)."""
    value = os.environ.get("CNN2GNN_FAST")
    if value is None:
        return os.environ.get("CI", "").strip().lower() in _TRUE
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"CNN2GNN_FAST={value!r} is not understood; use 1 (fast) or 0 (full).")


@dataclass(frozen=True)
class Budget:
    """How much data and how many epochs a run uses.

    ``train_per_class`` / ``test_per_class`` of ``None`` mean the whole split.
    """

    fast: bool
    train_per_class: int | None
    test_per_class: int | None
    teacher_epochs: int
    student_epochs: int


FAST_BUDGET = Budget(fast=True, train_per_class=300, test_per_class=100, teacher_epochs=3,
                     student_epochs=5)
FULL_BUDGET = Budget(fast=False, train_per_class=None, test_per_class=None, teacher_epochs=20,
                     student_epochs=30)


def budget(fast: bool | None = None) -> Budget:
    """The :class:`Budget` of the current mode (or of ``fast`` when given)."""
    if fast is None:
        fast = fast_mode()
    return FAST_BUDGET if fast else FULL_BUDGET


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a CPU generator seeded the same.

    The returned generator is what the library's loaders use for shuffling and augmentation, so
    a run is repeatable even when other code draws from the global RNGs in between.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """Choose where to compute: ``preferred`` if given, else ``$CNN2GNN_DEVICE``, else cuda,
    mps, cpu.

    An explicit request for a device that is not available is an error rather than a silent
    fallback, so a run never reports CPU timings as GPU ones.
    """
    choice = preferred if preferred is not None else os.environ.get("CNN2GNN_DEVICE") or "auto"
    if isinstance(choice, torch.device):
        choice = str(choice)
    choice = choice.strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(choice)  # raises on nonsense such as "gpu0"
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} was asked for but CUDA is not available here; "
                           "use --device cpu or auto.")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"device {choice!r} was asked for but MPS is not available here.")
    return device


def artifacts_dir(path: str | os.PathLike | None = None) -> Path:
    """Folder for checkpoints and caches: ``path``, else ``$CNN2GNN_ARTIFACTS``, else
    ``./artifacts``."""
    chosen = path or os.environ.get("CNN2GNN_ARTIFACTS") or "artifacts"
    folder = Path(chosen).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_dir() -> Path:
    """Folder for downloaded or unpacked datasets (``$CNN2GNN_CACHE``, else
    ``~/.cache/cnn2gnn``)."""
    chosen = os.environ.get("CNN2GNN_CACHE") or Path.home() / ".cache" / "cnn2gnn"
    folder = Path(chosen).expanduser()
    return folder
