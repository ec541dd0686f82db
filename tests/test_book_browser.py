"""The rendered book, opened page by page in headless Chromium.

Builds the book (committed notebook outputs, warnings as errors) into a temporary folder, serves
it on localhost and fails on: a page that does not load, a local image that does not render, a
JavaScript error from the book's own files, an internal link to a missing page or anchor, or a
chapter page without its Colab launch button, a formula left as raw TeX (MathJax is served by
the book itself), a progress bar saved as an (empty) widget or as text, a Markdown table
printed as plain text, a visible nbval marker, a code block or table that scrolls sideways at
1366 px, or anything loaded from another host: the built book must work offline.

Needs Debian's `chromium` and `chromium-driver` (scripts/setup_env.sh installs them); CI sets
CNN2GNN_REQUIRE_BROWSER=1 so that a missing browser fails instead of skipping.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

if not (CHROMIUM and DRIVER):
    if os.environ.get("CNN2GNN_REQUIRE_BROWSER") == "1":
        raise RuntimeError("CNN2GNN_REQUIRE_BROWSER=1 but chromium/chromedriver are missing; "
                           "install the Debian packages chromium and chromium-driver")
    pytest.skip("headless Chromium is not installed (Debian: chromium chromium-driver)",
                allow_module_level=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(ROOT), "--path-output", str(out),
                    "--warningiserror", "--quiet"], check=True, capture_output=True)
    html = out / "_build" / "html"
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield html, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER),
                              options=options)
    driver.set_window_size(1366, 768)  # the commonest laptop screen (book.css sizes code for it)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _load(browser, url: str) -> None:
    """Open ``url`` (following a redirect page) and wait until every image has loaded or
    failed, with lazy images forced to load."""
    from selenium.common.exceptions import JavascriptException
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(b) -> bool:
        try:
            return b.execute_script(
                "if (document.readyState !== 'complete' || !document.body) return false;"
                "document.querySelectorAll('img').forEach(i => i.loading = 'eager');"
                "window.scrollTo(0, document.body.scrollHeight);"
                "return [...document.images].every(i => i.complete);")
        except JavascriptException:  # the page is being replaced (a redirect)
            return False

    browser.get(url)
    WebDriverWait(browser, 30, poll_frequency=0.2).until(ready)


# The theme prints this with console.error on a profile that has never stored a colour mode
# (every reader's first visit); it is not an error of the book.
BENIGN = ("Got invalid theme mode",)


def _pages(html: Path) -> list[str]:
    pages = ["index.html"] + sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                                    if p.parts[-2] in ("notebooks", "book"))
    return pages


# TeX left unrendered in the visible text (code and rendered formulas excluded): \( \[ $$, or
# a $...$ span holding a backslash command
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\$[^$\n]{0,80}\\[A-Za-z]+[^$\n]{0,80}\$")


def _offline_problems(browser, page: str, base: str) -> list[str]:
    """Formulas rendered by the local MathJax, no widgets, nothing fetched from elsewhere."""
    problems = []
    typeset = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) "
        "{ done('no MathJax'); return; }"
        "MathJax.startup.promise.then(() => done('ok'), e => done('failed: ' + e));")
    if typeset not in ("ok", "no MathJax"):  # Sphinx adds MathJax only to pages with maths
        problems.append(f"{page}: MathJax did not typeset ({typeset})")
    text = browser.execute_script(
        "const copy = document.querySelector('main, article, body').cloneNode(true);"
        "copy.querySelectorAll('pre, code, mjx-container, script, style')"
        ".forEach(e => e.remove());"
        "return copy.textContent;")
    for match in RAW_TEX.finditer(text):
        problems.append(f"{page}: raw TeX in the text: {match.group(0)[:60]!r}")
    widgets = browser.execute_script(
        "return document.querySelectorAll('.jupyter-widgets, "
        "script[type=\"application/vnd.jupyter.widget-view+json\"]').length;")
    if widgets:
        problems.append(f"{page}: {widgets} saved widget(s), which render empty")
    remote = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);")
    remote += browser.execute_script(
        "return [...document.querySelectorAll('script[src], img[src], iframe[src], "
        "link[rel=stylesheet][href], link[rel=preload][href], link[rel=icon][href]')]"
        ".map(e => e.src || e.href);")
    for url in sorted(set(remote)):
        if re.match(r"https?://", url) and not url.startswith(base):
            problems.append(f"{page}: loads {url} from another host")
    return problems


def test_every_page_renders_cleanly(site, browser):
    html, base = site
    pages = _pages(html)
    chapters = [p for p in pages if p.startswith("notebooks/")]
    assert len(chapters) >= 1 and any(p.startswith("book/") for p in pages)
    problems = []
    # The theme logs console.error("Got invalid theme mode: ...") on the very first visit of a
    # fresh profile, before any mode is stored; a reader's browser does the same. Store one
    # first so that the check below only sees errors of the book itself.
    _load(browser, urljoin(base, "book/intro.html"))
    browser.execute_script("localStorage.setItem('mode', 'light'); "
                           "localStorage.setItem('theme', 'light');")
    for page in pages:
        url = urljoin(base, page)
        browser.get_log("browser")  # drop what earlier pages left
        _load(browser, url)
        images = browser.execute_script(
            "return [...document.images].map(i => [i.currentSrc || i.src, i.complete, "
            "i.naturalWidth]);")
        for src, complete, width in images:
            if src.startswith(base) and not (complete and width > 0):
                problems.append(f"{page}: image does not render: {src}")
        for entry in browser.get_log("browser"):
            message = entry["message"]
            external = re.search(r"https?://(?!127\.0\.0\.1)", message)
            benign = any(text in message for text in BENIGN)
            if entry["level"] == "SEVERE" and not external and not benign:
                problems.append(f"{page}: JavaScript error: {message[:300]}")
        problems += _offline_problems(browser, page, base)
        raw_tables = browser.execute_script(  # a Markdown table printed by a cell, as text
            "return [...document.querySelectorAll('p')].filter("
            "p => /^\\|.*\\|\\s*$/m.test(p.innerText)).length;")
        if raw_tables:
            problems.append(f"{page}: {raw_tables} Markdown table(s) render as text")
        printed = browser.execute_script(  # what a cell printed that the book should render
            "const outputs = [...document.querySelectorAll('div.cell_output pre')]"
            ".map(p => p.innerText);"
            "return [outputs.filter(t => /^\\|[-| :]+\\|\\s*$/m.test(t)).length,"
            "        outputs.filter(t => t.includes('\u2588')).length];")
        if printed[0]:
            problems.append(f"{page}: {printed[0]} Markdown table(s) printed as plain text")
        if printed[1]:
            problems.append(f"{page}: {printed[1]} saved progress bar(s) in the outputs")
        markers = browser.execute_script(
            "return [...document.querySelectorAll('div.cell_input pre')]"
            ".filter(p => /NBVAL_/.test(p.innerText)).length;")
        if markers:
            problems.append(f"{page}: {markers} code cell(s) show an nbval marker (use a tag)")
        wide = browser.execute_script(  # anything a reader would have to scroll sideways
            "return [...document.querySelectorAll('main pre, main table')]"
            ".filter(e => e.tagName === 'PRE' ? e.scrollWidth > e.clientWidth + 2"
            "      : e.scrollWidth > e.parentElement.clientWidth + 2)"
            ".map(e => e.tagName + ': ' + e.innerText.split('\\n')[0].slice(0, 60));")
        for first_line in wide:
            problems.append(f"{page}: scrolls sideways: {first_line!r}")
        if page == "index.html" and not browser.current_url.endswith("book/intro.html"):
            problems.append(f"index.html does not lead to the landing page: "
                            f"{browser.current_url}")
        links = browser.execute_script(
            "return [...document.querySelectorAll('a[href]')].map(a => a.href);")
        for href in links:
            if not href.startswith(base):
                continue
            target = urlparse(href)
            path = html / unquote(target.path[len(urlparse(base).path):] or "index.html")
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                problems.append(f"{page}: broken internal link {href}")
            elif target.fragment and path.suffix == ".html":
                if f'id="{unquote(target.fragment)}"' not in path.read_text(errors="ignore"):
                    problems.append(f"{page}: link to a missing anchor {href}")
        if page in chapters:
            colab = [h for h in links if h.startswith("https://colab.research.google.com/github/")]
            if not colab:
                problems.append(f"{page}: no Colab launch button")
            elif not any(page.replace(".html", ".ipynb") in h for h in colab):
                problems.append(f"{page}: the Colab button opens another notebook: {colab[0]}")
    assert not problems, "\n".join(problems)


def test_formulas_render_with_the_books_own_mathjax(site, browser):
    html, base = site
    _load(browser, urljoin(base, "notebooks/05_gnn_student.html"))
    state = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "MathJax.startup.promise.then(() => done([document.querySelectorAll('mjx-container')"
        ".length, [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s))]));")
    formulas, sources = state
    assert formulas >= 2, "chapter 5's formulas were not rendered"
    assert sources and all(src.startswith(base) and "_static/mathjax/" in src
                           for src in sources), sources
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_figures_are_png_images_on_the_chapter_pages(site, browser):
    html, base = site
    for page in [p for p in _pages(html) if p.startswith("notebooks/")]:
        _load(browser, urljoin(base, page))
        rendered = browser.execute_script(
            "return [...document.images].filter(i => i.naturalWidth > 0)"
            ".map(i => i.currentSrc);")
        assert any(src.endswith(".png") for src in rendered), f"{page} shows no figure"
