"""The book's publishing settings: one repository URL, and a valid Pages workflow."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_the_pages_workflow_builds_and_deploys_the_book():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = " ".join(step.get("run", "") for step in build["steps"])
    assert "jupyter-book build ." in runs and "requirements-lock.txt" in runs
    # MathJax is fetched before the build: the published book serves it itself
    assert runs.index("scripts/fetch_mathjax.sh") < runs.index("jupyter-book build .")
    upload = next(s for s in build["steps"] if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert any("deploy-pages" in step.get("uses", "") for step in deploy["steps"])


def test_the_repository_url_is_named_once():
    settings = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = settings["repository"]["url"]
    assert url.startswith("https://github.com/")
    # the library and the prose never spell it out; the setup cells and badges get it by sync
    for path in list((ROOT / "cnn2gnn_lib").rglob("*.py")) + list((ROOT / "book").glob("*.md")):
        assert url not in path.read_text(), path
