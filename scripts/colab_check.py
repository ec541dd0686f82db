"""Run every chapter as a reader on default Colab would: each notebook copied alone into an empty
folder (no checkpoints, no results/, no data cache) and executed in fast mode (``--full``: full
mode) with the library as pip installed it. Run by scripts/colab_check.sh inside its Python 3.13
environment; chapter names after the options (``02_cnn_teacher``) pick some chapters only.

Prints one line per chapter with its cold time; exits 1 if any chapter fails. With
``--record`` the cold times go into notebooks/timings.json (``fast_cold_seconds`` or
``full_cold_seconds``), which the chapters' headers show beside the warm ones
(scripts/notebooks.py sync).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def run(path: Path, fast: bool = True) -> tuple[bool, float, str]:
    with tempfile.TemporaryDirectory(prefix="colab-") as folder:
        notebook = Path(shutil.copy(path, folder))
        env_folder = Path(folder)
        os.environ.update(CNN2GNN_FAST="1" if fast else "0",
                          CNN2GNN_ARTIFACTS=str(env_folder / "artifacts"),
                          CNN2GNN_CACHE=str(env_folder / "cache"),
                          MPLBACKEND="module://matplotlib_inline.backend_inline")
        os.environ.pop("CNN2GNN_DATA", None)
        os.environ.pop("CNN2GNN_RESULTS", None)
        nb = nbformat.read(notebook, as_version=4)
        began = time.perf_counter()
        try:
            NotebookClient(nb, timeout=1200 if fast else 3600, kernel_name="python3",
                           resources={"metadata": {"path": folder}}).execute()
            return True, time.perf_counter() - began, ""
        except Exception as error:  # report and go on with the other chapters
            return False, time.perf_counter() - began, f"{type(error).__name__}: {error}"[-2000:]


def main() -> int:
    import cnn2gnn_lib
    import numpy
    import torch
    import torchvision

    installed = Path(cnn2gnn_lib.__file__).resolve()
    if installed.parent == ROOT / "cnn2gnn_lib":  # an editable install, or run from the root
        print(f"colab-check: the library is imported from the checkout ({installed}), not from "
              "a pip install", file=sys.stderr)
        return 1
    print(f"colab-check: Python {sys.version.split()[0]}, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, numpy {numpy.__version__}, DGL "
          f"{'present' if 'dgl' in sys.modules or _has('dgl') else 'absent'}")
    fast = "--full" not in sys.argv
    mode = "fast" if fast else "full"
    wanted = {name.removesuffix(".ipynb") for name in sys.argv[1:] if not name.startswith("--")}
    chapters = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    unknown = wanted - {path.stem for path in chapters}
    if unknown:
        print(f"colab-check: no chapter named {', '.join(sorted(unknown))}", file=sys.stderr)
        return 1
    failed, cold = 0, {}
    for path in chapters:
        if wanted and path.stem not in wanted:
            continue
        ok, seconds, message = run(path, fast)
        print(f"colab-check: {path.name}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s "
              f"(cold, {mode} mode)", flush=True)
        if ok:
            cold[path.name] = round(seconds, 1)
        else:
            failed += 1
            print(message, file=sys.stderr)
    if "--record" in sys.argv and not failed:
        timings_path = ROOT / "notebooks" / "timings.json"
        timings = json.loads(timings_path.read_text())
        for name, seconds in cold.items():
            timings.setdefault(name, {}).update({
                f"{mode}_cold_seconds": seconds,
                f"{mode}_cold_measured": time.strftime("%Y-%m-%d"),
                "cold_environment": f"Python {sys.version.split()[0]}, torch "
                                    f"{torch.__version__}, no DGL, library pip-installed, "
                                    "empty folder"})
        timings_path.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")
        print(f"colab-check: cold times recorded in {timings_path.name}")
    return 1 if failed else 0


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
