"""scripts/build_pdf.py: the page count of a built PDF, and a clear stop without TeX."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def build_pdf():
    spec = importlib.util.spec_from_file_location("build_pdf", ROOT / "scripts" / "build_pdf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_tex_the_build_says_what_to_install(build_pdf, monkeypatch, capsys):
    monkeypatch.setattr(build_pdf.shutil, "which", lambda tool: None)
    assert build_pdf.main([]) == 1
    assert "make pdf" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="pdfinfo (poppler-utils) not installed")
def test_page_count_and_page_images(build_pdf, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    import matplotlib.pyplot as plt

    pdf = tmp_path / "three.pdf"
    with PdfPages(pdf) as pages:
        for _ in range(3):
            figure = plt.figure()
            pages.savefig(figure)
            plt.close(figure)
    assert build_pdf.page_count(pdf) == 3
    if shutil.which("pdftoppm"):
        [image] = build_pdf.render_pages(pdf, [2], tmp_path / "pages", dpi=20)
        assert image.name == "page-002.png" and image.stat().st_size > 0
