"""Build the whole book as one printable PDF (`make pdf`).

  python scripts/build_pdf.py                   # -> _build/latex/cnn2gnn-book.pdf
  python scripts/build_pdf.py --pages 1 5 40    # also render these pages as PNG images

Runs Jupyter Book's LaTeX builder (XeLaTeX, configured under `latex:` in _config.yml) on the
committed notebooks, then prints the PDF's page count, size and build time. `--pages` renders
pages with `pdftoppm` into `_build/latex/pages/` to check figures and formulas by eye.
Needs Debian's TeX packages: `make pdf` installs them (scripts/setup_env.sh, CNN2GNN_TEX=1).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PDF = ROOT / "_build" / "latex" / "cnn2gnn-book.pdf"


def page_count(pdf: Path) -> int:
    """The number of pages, from `pdfinfo` (poppler-utils, installed with the TeX packages)."""
    if shutil.which("pdfinfo") is None:
        raise RuntimeError("pdfinfo not found: apt-get install poppler-utils")
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    found = re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)
    if found is None:
        raise RuntimeError(f"pdfinfo found no page count in {pdf}")
    return int(found.group(1))


def render_pages(pdf: Path, pages: list[int], folder: Path, dpi: int = 80) -> list[Path]:
    """Pages of ``pdf`` as PNG files (needs pdftoppm, from Debian's poppler-utils)."""
    if shutil.which("pdftoppm") is None:
        raise RuntimeError("pdftoppm not found: apt-get install poppler-utils")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for page in pages:
        stem = folder / f"page-{page:03d}"
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
                        "-singlefile", str(pdf), str(stem)], check=True)
        written.append(stem.with_suffix(".png"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, nargs="*", default=[],
                        help="render these pages (1-based) as PNG images")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("xelatex", "latexmk", "pdfinfo") if shutil.which(tool) is None]
    if missing:
        print(f"build_pdf: {', '.join(missing)} not found; run `make pdf` (it installs Debian's "
              "TeX packages) or `CNN2GNN_TEX=1 bash scripts/setup_env.sh`", file=sys.stderr)
        return 1
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    done = subprocess.run([str(jupyter_book), "build", str(ROOT), "--builder", "pdflatex"],
                          cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not PDF.is_file():
        print(f"build_pdf: the LaTeX build failed; see {PDF.with_suffix('.log')}",
              file=sys.stderr)
        return done.returncode or 1
    print(f"build_pdf: {PDF.relative_to(ROOT)}: {page_count(PDF)} pages, "
          f"{PDF.stat().st_size / 1e6:.1f} MB, built in {seconds:.0f} s")
    for image in render_pages(PDF, args.pages, PDF.parent / "pages") if args.pages else []:
        print(f"build_pdf: page image {image.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
