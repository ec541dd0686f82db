"""The library's rooms stay small: the size rules of scripts/check_sizes.py hold."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_sizes.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_sizes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_function_or_class_is_over_its_size_limit():
    assert _checker().violations() == []


def test_the_checker_finds_what_breaks_the_rules(tmp_path):
    package = tmp_path / "cnn2gnn_lib"
    package.mkdir()
    long_body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (package / "big.py").write_text(f"def f():\n{long_body}\n\nisinstance(m, GNNStudent)\n")
    found = _checker().violations(package)
    assert any("function f: 62 lines" in line for line in found)
    assert any("isinstance on a student class" in line for line in found)
