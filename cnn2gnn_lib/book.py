"""Helpers for the book's chapters: the setup every notebook starts with.

:func:`setup` seeds everything, picks the device, says which message-passing backend the chapter
will use (DGL where it imports, PyTorch otherwise, e.g. on default Colab), which mode it runs in,
and prints the versions, so every executed notebook records the environment that produced its
numbers. :func:`environment` (``python -m cnn2gnn_lib info``; :func:`check_environment` in a
cell) says what a machine offers the book: device and GPU, mixed precision, mode, DGL, data,
write access.
"""
from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import torch
import torchvision

from . import __version__, config, data, dgl_bridge, plotting
from .training import precision, versions


@dataclass
class ChapterSetup:
    """What a chapter needs after its setup cell."""

    device: torch.device
    generator: torch.Generator
    fast: bool
    backend: str
    seed: int


def setup(seed: int = 0, device: str | None = None, verbose: bool = True) -> ChapterSetup:
    """Seed, pick the device and the graph backend, and print the environment."""
    generator = config.seed_everything(seed)
    plotting.book_style()
    chosen = config.pick_device(device)
    budget = config.budget()
    backend = "dgl" if dgl_bridge.dgl_available() else "torch"
    if verbose:
        vision = torchvision.__version__
        print(f"cnn2gnn_lib {__version__} | Python {platform.python_version()} | torch "
              f"{torch.__version__} | torchvision {vision} | matplotlib {matplotlib.__version__}")
        print(f"device: {chosen} | seed: {seed} | mode: "
              f"{'fast (CNN2GNN_FAST=1: small data, few epochs)' if budget.fast else 'full'}")
        if backend == "dgl":
            print(f"graphs: {dgl_bridge.dgl_status()}")
        else:
            print("graphs: DGL is not available here, so this chapter runs on the library's "
                  "PyTorch backend (same numbers). Reason: "
                  f"{str(dgl_bridge.dgl_status())[:200]}")
    return ChapterSetup(chosen, generator, budget.fast, backend, seed)


def _writable(folder: Path) -> str:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
        return f"writable ({folder})"
    except OSError as error:
        return f"NOT writable ({folder}: {error.strerror}); set CNN2GNN_ARTIFACTS/CNN2GNN_CACHE"


def _gpu(device: torch.device) -> str:
    if device.type != "cuda":
        return "none (computing on the CPU)" if device.type == "cpu" else str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return (f"{props.name}, compute capability {props.major}.{props.minor}, "
            f"{props.total_memory / 2**30:.0f} GiB")


def environment(device: str | None = None, root: str | os.PathLike | None = None,
                fast: bool | None = None) -> dict[str, str]:
    """What this machine offers the book, as ``name -> description``: versions, the device and
    its GPU, the mixed-precision mode, fast or full mode, DGL, where Fashion-MNIST was found,
    and whether the artifact and cache folders can be written. ``python -m cnn2gnn_lib info``
    prints it; a chapter can too (:func:`check_environment`)."""
    chosen = config.pick_device(device)
    found = dict(versions())
    found.update(device=str(chosen), gpu=_gpu(chosen),
                 precision=precision.choose(chosen, announce=False).describe(),
                 mode="fast" if config.budget(fast).fast else "full",
                 budget=str(config.budget(fast)), dgl=dgl_bridge.dgl_status())
    try:
        found["fashion-mnist"] = repr(data.load_dataset("fashion-mnist", "train", root))
    except data.DatasetError as error:
        found["fashion-mnist"] = f"not found: {str(error).splitlines()[0]}"
    found["artifacts"] = _writable(config.artifacts_dir())
    found["cache"] = _writable(config.cache_dir())
    return found


def check_environment(**options) -> dict[str, str]:
    """Print :func:`environment` as an aligned table (the cell form of ``info``)."""
    found = environment(**options)
    width = max(len(key) for key in found)
    for key, value in found.items():
        print(f"{key:>{width}}: {value}")
    return found
