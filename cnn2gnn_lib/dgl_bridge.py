"""The DGL bridge: the only module of the library that imports DGL.

DGL (Deep Graph Library) is frozen upstream (last release 2.4.0, 2024). Its newest Linux wheel on
PyPI, 2.1.0, still serves Python 3.10-3.12, but with a torch newer than 2.2 its ``import dgl``
fails inside ``dgl.graphbolt`` (a data-loading sub-package compiled for one torch version, which
the book does not use). When, and only when, the plain import fails that way,
:func:`import_dgl` registers an empty ``dgl.graphbolt`` module and imports again: the core of DGL
(graphs, ``knn_graph``, ``GraphConv``, ``EdgeWeightNorm``, ``to_networkx``) then works.

It also sets ``DGLBACKEND=pytorch`` (otherwise DGL prints a warning), refuses the 2018 release
0.1.3 that pip silently picks on Python 3.13, and says how to get a working DGL. Everything else
in the library works without DGL: callers ask :func:`dgl_available` and fall back to PyTorch.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import types

MINIMUM_VERSION = (1, 0)
INSTALL_HINT = ("DGL's last Linux wheels on PyPI serve Python 3.10-3.12: "
                "`pip install dgl==2.1.0 packaging pandas` there. On Python 3.13 (default Colab) "
                "no DGL wheel exists; the book then runs on its PyTorch backend, which gives the "
                "same numbers.")


class DGLUnavailable(ImportError):
    """DGL is missing, too old, or cannot be imported here."""


_state: dict[str, object] = {"module": None, "error": None, "workaround": False, "tried": False}


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def installed_version() -> str | None:
    """The installed DGL distribution's version, without importing it (None if absent)."""
    try:
        return importlib.metadata.version("dgl")
    except importlib.metadata.PackageNotFoundError:
        return None


def _forget_partial_import() -> None:
    for name in [n for n in sys.modules if n == "dgl" or n.startswith("dgl.")]:
        del sys.modules[name]


def _import() -> types.ModuleType:
    backend = os.environ.setdefault("DGLBACKEND", "pytorch")
    if backend != "pytorch":
        raise DGLUnavailable(f"DGLBACKEND={backend!r}; this book needs DGLBACKEND=pytorch.")
    version = installed_version()
    if version is not None and _version_tuple(version) < MINIMUM_VERSION:
        raise DGLUnavailable(
            f"dgl {version} is installed, a 2018 release that pip picks when no modern wheel "
            f"fits this Python ({sys.version.split()[0]}); it is not the DGL this book uses. "
            f"Run `pip uninstall -y dgl`. {INSTALL_HINT}")
    try:
        return importlib.import_module("dgl")
    except ImportError as error:
        if sys.modules.get("dgl", "absent") is None:
            raise DGLUnavailable(f"DGL is blocked in this process. {INSTALL_HINT}") from error
        if version is None and "graphbolt" not in str(error):
            raise DGLUnavailable(f"DGL is not installed. {INSTALL_HINT}") from error
        first_error: Exception = error
    except Exception as error:  # graphbolt raises FileNotFoundError for its missing C++ library
        first_error = error
    if "graphbolt" not in str(first_error) and "torchdata" not in str(first_error):
        raise DGLUnavailable(f"`import dgl` failed: {first_error}. {INSTALL_HINT}") from first_error
    # The failure is in dgl.graphbolt only: load the core without it.
    _forget_partial_import()
    sys.modules["dgl.graphbolt"] = types.ModuleType("dgl.graphbolt")
    try:
        module = importlib.import_module("dgl")
    except Exception as error:
        _forget_partial_import()
        raise DGLUnavailable(f"`import dgl` failed even without dgl.graphbolt: {error}. "
                             f"{INSTALL_HINT}") from error
    _state["workaround"] = True
    return module


def _try_once() -> None:
    if not _state["tried"]:
        _state["tried"] = True
        try:
            _state["module"] = _import()
        except DGLUnavailable as error:
            _state["error"] = str(error)


def import_dgl() -> types.ModuleType:
    """Import and return DGL, applying the graphbolt workaround only if it is needed.

    Raises :class:`DGLUnavailable` with the reason and how to install a working DGL.
    """
    _try_once()
    if _state["module"] is None:
        # A new exception on every call: re-raising one stored exception object would append
        # each caller's frames to its traceback and keep their tensors alive, which leaked
        # gigabytes when the graph layers asked for DGL on every batch.
        raise DGLUnavailable(_state["error"])
    return _state["module"]  # type: ignore[return-value]


def dgl_available() -> bool:
    """True when DGL imports (possibly with the workaround); never raises."""
    _try_once()
    return _state["module"] is not None


def workaround_applied() -> bool:
    """True when the empty ``dgl.graphbolt`` module had to be registered."""
    return bool(_state["workaround"])


def resolve_backend(backend: str, device="cpu") -> str:
    """``"torch"`` or ``"dgl"`` for a requested graph backend on ``device``.

    ``"auto"`` takes DGL when it imports and the data is on the CPU (PyPI's DGL has no CUDA);
    an explicit ``"dgl"`` raises :class:`DGLUnavailable` (with instructions) where DGL does not
    import, and ``ValueError`` for data on another device.
    """
    import torch

    device = torch.device(device)
    if backend == "torch":
        return "torch"
    if backend == "dgl":
        import_dgl()
        if device.type != "cpu":
            raise ValueError(f"the DGL backend runs on the CPU only (PyPI's DGL has no CUDA), "
                             f"but the data is on {device}; use backend='torch' or 'auto'.")
        return "dgl"
    if backend == "auto":
        return "dgl" if device.type == "cpu" and dgl_available() else "torch"
    raise ValueError(f"backend must be 'auto', 'torch' or 'dgl', got {backend!r}")


def dgl_status() -> str:
    """One line for humans: which DGL, and how it was loaded, or why it is unavailable."""
    try:
        module = import_dgl()
    except DGLUnavailable as error:
        return f"unavailable ({error})"
    if workaround_applied():
        return (f"dgl {module.__version__} (without graphbolt, its data loader, which the book "
                "does not use)")
    return f"dgl {module.__version__}"
