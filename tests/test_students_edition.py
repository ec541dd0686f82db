"""The students' edition: solutions are removed, exercises and everything else stay."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def edition():
    spec = importlib.util.spec_from_file_location("students_edition",
                                                  ROOT / "scripts" / "students_edition.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXERCISES = """## Exercises

1. First question.
2. Second question.

```{admonition} Solution 1
:class: dropdown solution
The answer, with `code`.
```

```{admonition} A hint, not a solution
:class: dropdown
Keep me.
```

````{admonition} Solution 2
:class: dropdown solution
```python
print("nested fence")
```
````
"""


def test_strip_removes_solutions_only(edition):
    text, removed = edition.strip_solutions(EXERCISES)
    assert removed == 2
    assert "The answer" not in text and "nested fence" not in text
    assert "1. First question." in text and "Keep me." in text
    assert "\n\n\n" not in text


def test_an_unclosed_solution_is_an_error(edition):
    with pytest.raises(edition.EditionError, match="never closed"):
        edition.strip_solutions("```{admonition} Solution 1\n:class: solution\nno end\n")


def test_every_chapter_marks_its_solutions_so_the_edition_can_strip_them(edition):
    for chapter in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = "\n".join(cell.source for cell in nbformat.read(chapter, as_version=4).cells
                         if cell.cell_type == "markdown")
        solutions = text.count("{admonition} Solution")
        assert solutions >= 3, chapter.name
        assert edition.strip_solutions(text)[1] == solutions, (
            f"{chapter.name}: every solution needs `:class: dropdown solution`")


def test_sources_of_the_edition_hold_no_solution(edition, tmp_path):
    removed = edition.write_sources(tmp_path / "students")
    assert set(removed) == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert all(count >= 3 for count in removed.values())
    for chapter in (tmp_path / "students" / "notebooks").glob("*.ipynb"):
        raw = chapter.read_text()
        assert "{admonition} Solution" not in raw
        assert "## Exercises" in raw and json.dumps(edition.NOTICE)[1:-1] in raw
    config = yaml.safe_load((tmp_path / "students" / "_config.yml").read_text())
    assert config["title"].endswith("(students' edition)")
    assert config["execute"]["execute_notebooks"] == "off"
