"""Teachers shipped with the library: full-mode checkpoints as package data, checked before use.

Training a full-mode ResNet teacher takes about an hour on a small CPU, and every Colab session
starts on an empty machine. So the finished teachers of the study travel with the library, in
``cnn2gnn_lib/pretrained/``: each checkpoint file (about 1 MB) and, in ``index.json``, its
SHA-256, the exact :class:`~cnn2gnn_lib.training.TeacherConfig` it was trained with, its test
accuracy and where it was trained.

:func:`cnn2gnn_lib.training.train_or_load` asks :func:`load_shipped` first when no local
checkpoint exists: a shipped teacher is used only when its configuration equals the requested
one in every field (and it says so); a file whose hash does not match the index raises
:class:`PretrainedError` and is never used. :func:`ship` adds a finished checkpoint to the
folder (``python scripts/ship_teacher.py <checkpoint>``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
INDEX_FILE = "index.json"


class PretrainedError(RuntimeError):
    """A shipped teacher is damaged or does not match its index."""


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def index(folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The shipped teachers: ``{checkpoint file name: entry}`` (empty when none are shipped)."""
    path = Path(folder or PRETRAINED_DIR) / INDEX_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise PretrainedError(f"{path} is not valid JSON ({error}); reinstall the library") \
            from error


def find(settings: dict[str, Any], folder: str | os.PathLike | None = None
         ) -> tuple[Path, dict[str, Any]] | None:
    """The shipped checkpoint trained with exactly ``settings`` (a config's ``to_dict()``),
    after checking its SHA-256 against the index; ``None`` when no entry matches."""
    folder = Path(folder or PRETRAINED_DIR)
    for name, entry in index(folder).items():
        if entry["config"] != settings:
            continue
        path = folder / name
        if not path.is_file():
            raise PretrainedError(f"{path} is listed in {folder / INDEX_FILE} but missing; "
                                  "reinstall the library")
        found = sha256(path)
        if found != entry["sha256"]:
            raise PretrainedError(f"{path} has SHA-256 {found}, but the index says "
                                  f"{entry['sha256']}: the file is damaged or was replaced. "
                                  "It is not used; reinstall the library or delete the entry.")
        return path, entry
    return None


def load_shipped(cfg, device: torch.device | str | None = None, progress: bool = True,
                 folder: str | os.PathLike | None = None):
    """The shipped teacher of exactly ``cfg`` as a loaded run, or ``None`` when none matches."""
    from .teacher import load_teacher  # teacher imports this module

    found = find(cfg.to_dict(), folder)
    if found is None:
        return None
    path, entry = found
    result = load_teacher(path, device)
    if result.config != cfg:  # the file's own record must agree with its index entry
        raise PretrainedError(f"{path} holds the configuration {result.config}, but its index "
                              f"entry says {entry['config']}; it is not used.")
    if progress:
        print(f"using the pretrained teacher shipped with the library: {path.name} "
              f"(configuration matches exactly, SHA-256 checked; test accuracy "
              f"{entry['test_accuracy']:.4f}, trained on {entry['device']})")
    return result


def ship(checkpoint: str | os.PathLike, folder: str | os.PathLike | None = None
         ) -> dict[str, Any]:
    """Copy a finished teacher checkpoint into the shipped folder and record it in the index."""
    from .checkpoints import load_checkpoint

    checkpoint = Path(checkpoint)
    state = load_checkpoint(checkpoint)
    if "metrics" not in state:
        raise ValueError(f"{checkpoint} is an unfinished run; only finished teachers ship")
    folder = Path(folder or PRETRAINED_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / checkpoint.name
    shutil.copyfile(checkpoint, target)
    metrics = state["metrics"]
    entry = {"sha256": sha256(target), "bytes": target.stat().st_size,
             "config": state["config"], "test_accuracy": metrics["test_accuracy"],
             "train_seconds": metrics["train_seconds"], "device": metrics["device"],
             "created": state.get("created"), "torch": state.get("versions", {}).get("torch")}
    entries = index(folder)
    entries[target.name] = entry
    (folder / INDEX_FILE).write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return entry
