"""Check the library's size rules (issue "Reshape the student side"): no module over 400
lines, no function over 60 lines, no class over 200 lines, ``GNNStudent.forward`` at most 15
lines, and no ``isinstance`` on a student class outside the student modules.

  python scripts/check_sizes.py          print every module's size and the violations (exit 1)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent.parent / "cnn2gnn_lib"
LIMITS = {"module": 400, "function": 60, "class": 200}
STUDENT_CLASSES = {"Student", "GNNStudent", "MLPStudent"}


def _span(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1


def violations(root: Path = LIBRARY) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root.parent)
        text = path.read_text()
        if len(text.splitlines()) > LIMITS["module"]:
            found.append(f"{name}: {len(text.splitlines())} lines")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _span(node) > LIMITS["function"]:
                    found.append(f"{name}:{node.lineno} function {node.name}: {_span(node)} lines")
            elif isinstance(node, ast.ClassDef):
                if _span(node) > LIMITS["class"]:
                    found.append(f"{name}:{node.lineno} class {node.name}: {_span(node)} lines")
                if node.name == "GNNStudent":
                    forward = next(n for n in node.body if getattr(n, "name", "") == "forward")
                    if _span(forward) > 15:
                        found.append(f"{name}: GNNStudent.forward: {_span(forward)} lines")
            elif (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance"
                  and "students" not in path.parts):
                names = {getattr(n, "attr", getattr(n, "id", "")) for n in ast.walk(node.args[1])}
                if names & STUDENT_CLASSES:
                    found.append(f"{name}:{node.lineno} isinstance on a student class")
    return found


def main() -> int:
    for path in sorted(LIBRARY.rglob("*.py")):
        print(f"{len(path.read_text().splitlines()):>5}  {path.relative_to(LIBRARY.parent)}")
    found = violations()
    print("\n".join(found) if found else "no violations")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
