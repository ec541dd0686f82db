"""Checkpoints: one file format for every run, written atomically, read safely, reused exactly.

A run (a teacher or a student) is named by its configuration: ``<name>.pt`` holds the finished
run, ``<name>.partial.pt`` the state after the last finished epoch, from which an interrupted
run resumes. :func:`train_or_load_run` is the one rule for reuse: a finished checkpoint is
loaded when, and only when, it holds exactly the requested configuration.

Files are plain dictionaries of tensors, numbers, strings and lists, loaded with
``torch.load(weights_only=True)``: opening a checkpoint never runs code from it. Every file
records its format (:data:`CHECKPOINT_FORMAT`) and the versions that wrote it (:func:`versions`).
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy
import torch
import torchvision

from .. import config

CHECKPOINT_FORMAT = 1
# Files written before versions() stored plain strings hold torch's version as a TorchVersion,
# a str subclass: safe to unpickle, and allowed so that every earlier checkpoint still loads.
_SAFE_GLOBALS = [torch.torch_version.TorchVersion]
Result = TypeVar("Result")


@dataclass
class RunResult:
    """A trained (or loaded) run: its model, configuration, history and metrics."""

    model: Any
    config: Any
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    path: Path | None = None
    loaded: bool = False


def versions() -> dict[str, str]:
    """Versions and machine facts recorded in every checkpoint and result."""
    info = {"python": platform.python_version(), "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__), "numpy": str(numpy.__version__),
            "machine": platform.machine(), "cpu_count": str(os.cpu_count()),
            "torch_threads": str(torch.get_num_threads())}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def run_paths(kind: str, name: str, out_dir: str | os.PathLike | None = None
              ) -> tuple[Path, Path]:
    """``(final, partial)`` checkpoint paths of the run ``name`` under ``<artifacts>/<kind>``."""
    folder = config.artifacts_dir(out_dir) / kind
    return folder / f"{name}.pt", folder / f"{name}.partial.pt"


def atomic_save(obj: Any, path: Path) -> None:
    """Write ``obj`` to a temporary file, then rename it: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The dictionary stored at ``path`` (safe load); clear errors for what is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise RuntimeError(f"{path} is not a readable checkpoint ({type(error).__name__}: "
                           f"{error}); delete it to train again.") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RuntimeError(f"{path} is not a cnn2gnn checkpoint of format "
                           f"{CHECKPOINT_FORMAT}; delete it to train again.")
    return state


def resumable_state(partial: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The partial checkpoint at ``partial`` if it was written for exactly ``settings``."""
    if not partial.is_file():
        return None
    state = load_checkpoint(partial)
    return state if state["config"] == settings else None


def train_or_load_run(final: Path, load: Callable[[Path], Result],
                      matches: Callable[[Result], bool], train: Callable[[], Result]) -> Result:
    """Load the finished run at ``final`` when it holds exactly this configuration (``matches``),
    else ``train()`` (which resumes a partial checkpoint where one exists)."""
    if final.is_file():
        result = load(final)
        if matches(result):
            return result
    return train()
