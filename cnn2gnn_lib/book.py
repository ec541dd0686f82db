"""Helpers for the book's chapters: the setup every notebook starts with.

:func:`setup` seeds everything, picks the device, says which message-passing backend the chapter
will use (DGL where it imports, PyTorch otherwise, e.g. on default Colab), which mode it runs in,
and prints the versions, so every executed notebook records the environment that produced its
numbers.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass

import matplotlib
import torch
import torchvision

from . import __version__, config, dgl_bridge


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
