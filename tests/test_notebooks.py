"""The chapters' structure: generated cells in sync, executed outputs committed, exercises.

Running every notebook top to bottom is nbval's job (`pytest --nbval-lax notebooks`, in
`make test`); these tests check what nbval does not.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_generated_cells_are_in_sync():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "notebooks.py"), "check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def tool():
    """scripts/notebooks.py, imported as a module."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import notebooks
    finally:
        sys.path.pop(0)
    return notebooks


def test_saved_progress_widgets_become_their_final_text(tool):
    import nbformat

    nb = nbformat.v4.new_notebook()
    view = {"model_id": "box", "version_major": 2, "version_minor": 0}
    nb.cells.append(nbformat.v4.new_code_cell("train()", outputs=[nbformat.v4.new_output(
        "display_data", data={tool.WIDGET_VIEW: view, "text/plain": "MLPStudent:   0%| | 0/30"})]))
    state = {"box": {"state": {"children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]}},
             "l": {"state": {"value": "MLPStudent: 100%"}},
             "p": {"state": {"value": 30, "max": 30}},
             "r": {"state": {"value": "&nbsp;30/30 [00:53&lt;00:00]"}}}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    assert tool._has_widgets(nb) and tool.textify_widgets(nb) == 1
    (output,) = nb.cells[0].outputs
    assert output.output_type == "stream"
    assert output.text == "MLPStudent: 100%|██████████| 30/30 [00:53<00:00]\n"
    assert "widgets" not in nb.metadata and not tool._has_widgets(nb)


def test_outputs_name_no_path_of_the_machine_that_ran_them(tool):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("load()", outputs=[
        nbformat.v4.new_output("stream", name="stdout",
                               text=f"loaded {ROOT}/artifacts/t.pt from {Path.home()}/data\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": f"'{ROOT}'"})]))
    assert tool._shows_machine_paths(nb) and tool.relative_paths(nb) == 2
    stream, result = nb.cells[0].outputs
    assert stream.text == "loaded artifacts/t.pt from ~/data\n"
    assert result.data["text/plain"] == "'.'" and not tool._shows_machine_paths(nb)


def test_every_chapter_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    assert CHAPTERS
    for path in CHAPTERS:
        assert f"notebooks/{path.stem}" in toc, path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_structure(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    text = lambda cell: "".join(cell["source"])  # noqa: E731
    assert cells[0]["cell_type"] == "markdown" and text(cells[0]).startswith("# ")
    assert "What you will learn" in text(cells[0]) and "Prerequisites" in text(cells[0])
    assert "Open this chapter in Colab" in text(cells[1]) and "Time to run" in text(cells[1])
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "setup" in code[0]["metadata"].get("tags", [])
    exercises = "".join(text(c) for c in cells if c["cell_type"] == "markdown")
    assert len(re.findall(r"^\d\. ", exercises.split("## Exercises")[-1], re.M)) >= 3
    assert exercises.count(":class: dropdown") >= 3
    # committed with the outputs of a real run: every code cell executed, none failed,
    # figures as PNG (nbval compares SVG byte for byte, and the book renders PNG)
    assert all(c["execution_count"] for c in code), "a code cell was not executed"
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", text(cell)[:80]
            assert "image/svg+xml" not in output.get("data", {})
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_reads_well(path):
    """A summary before the exercises, a reading time in the header, no code line that needs
    a horizontal scroll bar (book.css fits 96 characters at 1366 pixels), no stray matplotlib
    reprs."""
    nb = json.loads(path.read_text())
    markdown = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "Reading time" in "".join(nb["cells"][1]["source"])
    assert 0 <= markdown.find("## Summary") < markdown.find("## Exercises"), path.name
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            assert len(line) <= 96, f"{path.name}: {line[:60]}... ({len(line)} characters)"
        for output in cell["outputs"]:
            shown = "".join(output.get("data", {}).get("text/plain", ""))
            assert not shown.startswith("<matplotlib.") or shown.startswith("<Figure"), shown


def test_every_chapter_has_a_checked_exercise_the_library_knows():
    from cnn2gnn_lib import exercises

    known = exercises.available()
    for path in CHAPTERS:
        number = str(int(path.name[:2]))
        text = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                       if c["cell_type"] == "markdown")
        asked = set(re.findall(r'exercises\.check\("(\d+\.\d+)"', text))
        assert asked, f"{path.name} has no checked exercise"
        assert all(found.split(".")[0] == number and found in known for found in asked), asked
        assert {k for k in known if k.split(".")[0] == number} <= asked


def test_the_instructors_plan_assigns_exercises_that_exist():
    page = (ROOT / "book" / "instructors.md").read_text()
    plan = page[page.index("## A five-week plan"):page.index("## Solutions and grading")]
    assigned = re.findall(r"\b(\d)\.(\d)\b", plan.split("| week |")[1])
    assert len(assigned) >= 15
    by_chapter = {int(p.name[:2]): p for p in CHAPTERS}
    for chapter, number in assigned:
        nb = json.loads(by_chapter[int(chapter)].read_text())
        text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        exercises = text.split("## Exercises")[-1]
        assert re.search(rf"^{number}\. ", exercises, re.M), f"exercise {chapter}.{number}"
    assert "DGL" in plan and "optional" in plan


def test_a_busy_machine_does_not_time_a_chapter(tool):
    assert tool.machine_busy(load=0.2, cores=2) is None
    reason = tool.machine_busy(load=2.4, cores=2)
    assert "2.4 on 2 cores" in reason and "another process" in reason
    assert tool.machine_busy(load=0.9, cores=2) is None  # a tool at work is not a second job
