"""Build the students' edition: the same book with every exercise solution removed.

  python scripts/students_edition.py            # -> _build/students/_build/html
  python scripts/students_edition.py --no-build # only write the stripped sources

A solution is an admonition whose options carry the class ``solution``::

    ```{admonition} Solution 2
    :class: dropdown solution
    ...
    ```

The script copies the book's sources (``_config.yml``, ``_toc.yml``, ``book/``, the chapters)
into ``_build/students/``, removes every such block from the chapters' markdown cells, puts one
line after each chapter's exercises saying where the solutions are, checks that no solution is
left, and builds the copy with Jupyter Book. The default book (``make book``) keeps its folded
solutions. `make book-students` runs this script.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTICE = ("*Students' edition: the solutions of these exercises are in the instructors' "
          "edition of the book.*")
_FENCE = re.compile(r"^(`{3,}|~{3,})\{admonition\}")
_SOLUTION_CLASS = re.compile(r"^:class:.*\bsolution\b")


class EditionError(RuntimeError):
    """A solution the stripper could not remove cleanly (an unclosed fence)."""


def strip_solutions(text: str) -> tuple[str, int]:
    """``text`` without its solution admonitions, and how many were removed."""
    lines, kept, removed, index = text.split("\n"), [], 0, 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence and _is_solution(lines, index + 1):
            closing = fence.group(1)
            end = index + 1
            while end < len(lines) and lines[end].rstrip() != closing:
                end += 1
            if end == len(lines):
                raise EditionError(f"a solution opened by {lines[index]!r} is never closed")
            removed += 1
            index = end + 1
            while kept and index < len(lines) and not kept[-1].strip() and not lines[index].strip():
                index += 1                                  # no run of blank lines left behind
            continue
        kept.append(lines[index])
        index += 1
    return "\n".join(kept).rstrip("\n") + ("\n" if text.endswith("\n") else ""), removed


def _is_solution(lines: list[str], start: int) -> bool:
    """Whether the directive options starting at ``start`` carry the class ``solution``."""
    for line in lines[start:]:
        if not line.startswith(":"):
            return False
        if _SOLUTION_CLASS.match(line):
            return True
    return False


def strip_notebook(path: Path) -> int:
    """Remove the solutions of one chapter in place; add the notice after the exercises."""
    notebook = nbformat.read(path, as_version=4)
    total = 0
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        cell.source, removed = strip_solutions(cell.source)
        if removed:
            cell.source = cell.source.rstrip("\n") + "\n\n" + NOTICE
        total += removed
    nbformat.write(notebook, path)
    return total


def write_sources(out: Path) -> dict[str, int]:
    """Copy the book's sources into ``out`` and strip them; returns solutions removed per
    chapter. Raises :class:`EditionError` if anything of a solution is left."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(ROOT / "_toc.yml", out / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] = f"{config['title']} (students' edition)"
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copytree(ROOT / "book", out / "book")
    (out / "notebooks").mkdir()
    removed = {}
    for chapter in sorted((ROOT / "notebooks").glob("*.ipynb")):
        target = out / "notebooks" / chapter.name
        shutil.copy2(chapter, target)
        removed[chapter.stem] = strip_notebook(target)
        left = [cell.source for cell in nbformat.read(target, as_version=4).cells
                if cell.cell_type == "markdown" and _SOLUTION_CLASS.search(cell.source)]
        if left:
            raise EditionError(f"{chapter.name}: a solution is still there after stripping")
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "students")
    parser.add_argument("--no-build", action="store_true", help="only write the sources")
    args = parser.parse_args(argv)
    removed = write_sources(args.out)
    print(f"students' edition: {sum(removed.values())} solutions removed from "
          f"{len(removed)} chapters -> {args.out}")
    if args.no_build:
        return 0
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(args.out), "--warningiserror", "--keep-going"]
    done = subprocess.run(command, cwd=args.out)
    if done.returncode == 0:
        print(f"students' edition: open {args.out / '_build' / 'html' / 'index.html'}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
