import os
import subprocess
import sys
import textwrap

import pytest

from cnn2gnn_lib import dgl_bridge


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DGLBACKEND"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture
def fresh_bridge(monkeypatch):
    """A bridge that has not tried to import DGL yet (restored afterwards)."""
    saved = dict(dgl_bridge._state)
    monkeypatch.setattr(dgl_bridge, "_state", {"module": None, "error": None,
                                                "workaround": False, "tried": False})
    yield dgl_bridge
    dgl_bridge._state.update(saved)


needs_dgl = pytest.mark.skipif(dgl_bridge.installed_version() is None,
                               reason="DGL is not installed (e.g. Python 3.13)")


@needs_dgl
def test_dgl_core_works_through_the_bridge():
    dgl = dgl_bridge.import_dgl()
    import torch

    graph = dgl.knn_graph(torch.rand(30, 4), 5)
    assert graph.num_nodes() == 30 and graph.num_edges() == 150
    assert os.environ["DGLBACKEND"] == "pytorch"
    assert dgl_bridge.dgl_status().startswith(f"dgl {dgl.__version__}")


@needs_dgl
def test_workaround_is_applied_only_when_the_plain_import_fails():
    plain = _run("""
        import os; os.environ['DGLBACKEND'] = 'pytorch'
        try:
            import dgl
            print('PLAIN-OK')
        except Exception as error:
            print('PLAIN-FAILS', type(error).__name__)
    """)
    bridged = _run("""
        from cnn2gnn_lib import dgl_bridge
        dgl_bridge.import_dgl()
        print('WORKAROUND', dgl_bridge.workaround_applied())
    """)
    assert bridged.returncode == 0, bridged.stderr
    plain_ok = "PLAIN-OK" in plain.stdout
    assert f"WORKAROUND {not plain_ok}" in bridged.stdout


def test_library_works_when_dgl_cannot_be_imported():
    result = _run("""
        import sys
        sys.modules['dgl'] = None  # what an absent DGL looks like to an import
        from cnn2gnn_lib import dgl_bridge, data, teachers
        import torch
        assert not dgl_bridge.dgl_available()
        print('STATUS', dgl_bridge.dgl_status())
        train = data.balanced_subset(data.load_dataset('fashion-mnist', 'test'), 2)
        model = teachers.build_teacher('resnet20', 1, 10)
        x, y = next(data.iterate_batches(train, 4))
        print('LOGITS', tuple(model(x).shape))
    """)
    assert result.returncode == 0, result.stderr
    assert "LOGITS (4, 10)" in result.stdout
    assert "unavailable" in result.stdout and "dgl==2.1.0" in result.stdout


def test_the_2018_release_is_refused(fresh_bridge, monkeypatch):
    monkeypatch.setattr(fresh_bridge, "installed_version", lambda: "0.1.3")
    with pytest.raises(dgl_bridge.DGLUnavailable, match="dgl 0.1.3 is installed.*uninstall"):
        fresh_bridge.import_dgl()
    assert not fresh_bridge.dgl_available()


def test_a_foreign_backend_is_refused(fresh_bridge, monkeypatch):
    monkeypatch.setenv("DGLBACKEND", "tensorflow")
    with pytest.raises(dgl_bridge.DGLUnavailable, match="DGLBACKEND='tensorflow'"):
        fresh_bridge.import_dgl()


def test_only_the_bridge_imports_dgl():
    import pathlib
    import re

    package = pathlib.Path(dgl_bridge.__file__).parent
    statement = re.compile(r"^\s*(import dgl\b|from dgl\b)|import_module\(\"dgl\"\)", re.M)
    importers = sorted(p.name for p in package.rglob("*.py") if statement.search(p.read_text()))
    assert importers == ["dgl_bridge.py"]


def test_repeated_failures_do_not_keep_the_callers_frames(fresh_bridge, monkeypatch):
    # The graph layers ask for DGL on every batch; an exception object stored and re-raised
    # would grow its traceback by the caller's frames each time and keep their tensors alive.
    monkeypatch.setenv("DGLBACKEND", "tensorflow")
    errors = []
    for _ in range(3):
        try:
            fresh_bridge.import_dgl()
        except dgl_bridge.DGLUnavailable as error:
            errors.append(error)
    assert len({id(error) for error in errors}) == 3
    depth = [len(__import__("traceback").extract_tb(error.__traceback__)) for error in errors]
    assert depth[0] == depth[1] == depth[2]
    assert not fresh_bridge.dgl_available()
    assert "DGLBACKEND='tensorflow'" in str(errors[-1])
