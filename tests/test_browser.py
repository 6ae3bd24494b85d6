"""The built book in a real browser: every page renders its tables and figures, with no error output, and
reads as a paper section: no log or repr output, at most a fifth of the code cells unfolded, nothing wider
than the content column outside its own scroll box, no figure shrunk below half its natural width, and a
front page with a figure and a table.

Run after the book is built (`make book`), with `pytest -m browser`. Serves `$MINERALS_BOOK_HTML`
(default `_build/html`) on 127.0.0.1, drives headless Chromium (`/usr/bin/chromium`, installed by
`.ci/install-browser.sh`) with Playwright, blocks every request that leaves 127.0.0.1, and saves one
full-page screenshot per page under `build/screenshots/`.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from minerals.pipeline.registry import notebook_registry

REPO = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("MINERALS_BOOK_HTML", REPO / "_build" / "html")).resolve()
SCREENSHOTS = REPO / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
NOT_PAGES = {"genindex.html", "search.html", "index.html"}  # Sphinx indexes and the root redirect
REPORT_PAGE = "book/_generated/reproduction.html"
FRONT_PAGE = "book/intro.html"
MAX_UNFOLDED = 0.2  # at most this share of a page's code cells shows its code without a click
# Output that is plumbing, not a result: path and dataclass reprs, JSON epoch logs.
JUNK_OUTPUT = re.compile(r"PosixPath\(|WindowsPath\(|\b[A-Z][A-Za-z]*(?:Config|Result|Session)\(\w+=|^\s*\{\"epoch\": ", re.M)
# Jupyter Book 1.0.4 emits sphinx-thebe's inline config script twice on every page; the second copy
# throws, the first already set the values, and nothing on the page depends on it.
KNOWN_SCRIPT_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)

# What a page shows, read in the browser after every image has loaded or failed.
PROBE = """async () => {
  const article = document.querySelector("article") || document.body;
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return {
    title: document.title,
    images: images.map(img => ({src: img.getAttribute("src") || "", complete: img.complete,
                                width: img.naturalWidth, in_article: article.contains(img)})),
    tables: Array.from(article.querySelectorAll("table")).map(t => t.querySelectorAll("tbody tr").length),
    errors: document.querySelectorAll(".output.error, .output.traceback").length,
    stderr_tracebacks: Array.from(document.querySelectorAll(".output.stderr"))
                         .filter(e => e.innerText.includes("Traceback")).length,
    traceback_text: document.body.innerText.includes("Traceback"),
    text_length: article.innerText.trim().length,
    outputs: Array.from(article.querySelectorAll(".cell_output, .output")).map(e => e.innerText),
    code_cells: article.querySelectorAll("div.cell").length,
    unfolded_cells: Array.from(article.querySelectorAll("div.cell div.cell_input"))
                      .filter(e => { const d = e.closest("details"); return (!d || d.open) && e.offsetHeight > 0; }).length,
    overflowing: Array.from(article.querySelectorAll("table, pre, img")).filter(e => {
      const right = article.getBoundingClientRect().right + 1;
      if (e.getBoundingClientRect().right <= right) return false;
      for (let a = e.parentElement; a && a !== article; a = a.parentElement) {
        const o = getComputedStyle(a).overflowX;
        if ((o === "auto" || o === "scroll" || o === "hidden") && a.getBoundingClientRect().right <= right) return false;
      }
      return true;
    }).map(e => e.tagName.toLowerCase() + (e.getAttribute("src") ? " " + e.getAttribute("src") : "")),
    shrunk: images.filter(img => article.contains(img) && img.naturalWidth > 0
                          && img.getBoundingClientRect().width < 0.5 * img.naturalWidth)
                  .map(img => `${img.getAttribute("src")} (${Math.round(img.getBoundingClientRect().width)} of ${img.naturalWidth} px)`),
  };
}"""


def book_pages(root: Path) -> list[str]:
    """The content pages of a built book: every `.html` outside Sphinx's own folders and indexes."""
    if not root.is_dir():
        return []
    skip = ("_static", "_sources", "_images", "_sphinx_design_static")
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                  if not p.relative_to(root).parts[0].startswith(skip) and p.relative_to(root).as_posix() not in NOT_PAGES)


def declared_outputs() -> dict[str, dict[str, int]]:
    """Page -> how many tables and figures it must show: notebooks.toml's declarations, and the report."""
    pages = {f"notebooks/{nb}.html": {"tables": len(entry.get("tables", [])), "figures": len(entry.get("figures", []))}
             for nb, entry in notebook_registry().items()}
    pages[REPORT_PAGE] = {"tables": 1, "figures": 0}  # at least the summary table
    pages[FRONT_PAGE] = {"tables": 1, "figures": 1}  # the paper's summary: results, subsets, a figure per task
    return pages


def problems(report: dict, declared: dict[str, int] | None) -> list[str]:
    """What is wrong with a probed page (empty when it renders as it should)."""
    found = []
    broken = [img["src"] for img in report["images"] if not img["complete"] or img["width"] == 0]
    if broken:
        found.append(f"{len(broken)} image(s) did not render: {', '.join(broken[:5])}")
    if report["errors"]:
        found.append(f"{report['errors']} error output(s) (.output.error / .output.traceback)")
    if report["stderr_tracebacks"]:
        found.append(f"{report['stderr_tracebacks']} stderr output(s) holding a Traceback")
    if report["traceback_text"] and not (report["errors"] or report["stderr_tracebacks"]):
        found.append("the page text contains 'Traceback'")
    if report["failed_requests"]:
        found.append(f"local resources failed to load: {', '.join(report['failed_requests'][:5])}")
    if report["script_errors"]:
        found.append(f"JavaScript errors: {'; '.join(report['script_errors'][:3])}")
    if report["text_length"] == 0:
        found.append("the page has no text")
    junk = [m.group(0) for text in report["outputs"] for m in [JUNK_OUTPUT.search(text)] if m]
    if junk:
        found.append(f"{len(junk)} log or repr output(s): {', '.join(repr(j.strip()) for j in junk[:3])}")
    if report["code_cells"] and report["unfolded_cells"] > MAX_UNFOLDED * report["code_cells"]:
        found.append(f"{report['unfolded_cells']} of {report['code_cells']} code cells unfolded "
                     f"(at most {MAX_UNFOLDED:.0%}: tag the others hide-input or remove-input)")
    if report["overflowing"]:
        found.append(f"wider than the content column without a scroll box: {', '.join(report['overflowing'][:4])}")
    if report["shrunk"]:
        found.append(f"image(s) shrunk below half their natural width (text unreadable): {', '.join(report['shrunk'][:3])}")
    if declared:
        figures = sum(img["in_article"] and img["complete"] and img["width"] > 0 for img in report["images"])
        if figures < declared["figures"]:
            found.append(f"shows {figures} figure(s), notebooks.toml declares {declared['figures']}")
        tables = [rows for rows in report["tables"] if rows > 0]
        if len(tables) < declared["tables"]:
            found.append(f"shows {len(tables)} table(s) with rows, notebooks.toml declares {declared['tables']}")
    return found


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(root: Path):
    """Serve `root` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run .ci/install-browser.sh (Debian packages chromium, chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_and_probe(browser, url: str, screenshot: Path | None) -> dict:
    """Load one page offline (anything not on 127.0.0.1 is aborted), probe it, save a full-page screenshot."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    failed = []

    def route(r):
        if urlparse(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    script_errors = []
    page.on("pageerror", lambda exc: script_errors.append(str(exc).splitlines()[0])
            if not str(exc).startswith(KNOWN_SCRIPT_ERRORS) else None)
    page.on("response", lambda resp: failed.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None)
    page.on("requestfailed", lambda req: failed.append(f"{req.failure} {req.url}")
            if urlparse(req.url).hostname == "127.0.0.1" else None)
    try:
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{url}: HTTP {response.status if response else 'no response'}"
        report = page.evaluate(PROBE)
        if screenshot:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    return {**report, "failed_requests": failed, "script_errors": script_errors}


@pytest.fixture(scope="module")
def book_url():
    if not book_pages(HTML):
        pytest.fail(f"no built book in {HTML}: run `make book` first (or set MINERALS_BOOK_HTML)")
    with serve(HTML) as url:
        yield url


@pytest.mark.browser
@pytest.mark.parametrize("page", book_pages(HTML) or ["(no built book)"])
def test_page_renders(browser, book_url, page):
    shot = SCREENSHOTS / (page.removesuffix(".html").replace("/", "__") + ".png")
    report = open_and_probe(browser, book_url + page, shot)
    found = problems(report, declared_outputs().get(page))
    assert not found, f"{page} (screenshot {shot}):\n  " + "\n  ".join(found)


@pytest.mark.browser
def test_every_section_and_the_report_have_a_page():
    pages = set(book_pages(HTML))
    absent = [p for p in declared_outputs() if p not in pages]
    assert not absent, f"no page in {HTML} for: {', '.join(absent)}"


BROKEN_SITE = {
    "good.html": '<article><p>fine</p><img src="dot.png"><table><tbody><tr><td>1</td></tr></tbody></table></article>',
    "broken_image.html": '<article><p>text</p><img src="nowhere.png"></article>',
    "error_output.html": '<article><p>text</p><div class="output traceback"><pre>ZeroDivisionError</pre></div></article>',
    "stderr_traceback.html": '<article><p>x</p><div class="output stderr"><pre>Traceback (most recent call last):'
                             '</pre></div></article>',
    "no_table.html": '<article><p>a page that declares a table but shows none</p></article>',
    "script_error.html": '<article><p>fine</p><img src="dot.png"><table><tbody><tr><td>1</td></tr></tbody></table>'
                         '</article><script>undefinedFunction()</script>',
    "scrolled_wide_table.html": '<article style="width:600px"><p>ok</p><img src="dot.png"><div style="overflow-x:auto">'
                                '<table style="width:2000px"><tbody><tr><td>1</td></tr></tbody></table></div></article>',
    "wide_table.html": '<article style="width:600px"><p>x</p><img src="dot.png">'
                       '<table style="width:2000px"><tbody><tr><td>1</td></tr></tbody></table></article>',
    "repr_output.html": '<article><p>x</p><img src="dot.png"><table><tbody><tr><td>1</td></tr></tbody></table>'
                        '<div class="cell"><div class="cell_output"><pre>PosixPath(\'/tmp/x.json\')</pre></div></div>'
                        '<div class="cell"><div class="cell_output"><pre>{"epoch": 1, "val_top1": 0.5}</pre></div></div>'
                        '<div class="cell"><div class="cell_output"><pre>SizeConfig(methods=(1,))</pre></div></div></article>',
    "unfolded.html": '<article><p>x</p><img src="dot.png"><table><tbody><tr><td>1</td></tr></tbody></table>'
                     + '<div class="cell"><div class="cell_input"><pre>x = 1</pre></div></div>' * 2
                     + '<div class="cell"><details><summary>show</summary><div class="cell_input"><pre>y</pre></div>'
                       '</details></div>' * 3 + '</article>',
    "folded.html": '<article><p>x</p><img src="dot.png"><table><tbody><tr><td>1</td></tr></tbody></table>'
                   + '<div class="cell"><div class="cell_input"><pre>x = 1</pre></div></div>'
                   + '<div class="cell"><details><summary>show</summary><div class="cell_input"><pre>y</pre></div>'
                     '</details></div>' * 4 + '</article>',
    "shrunk_image.html": '<article style="width:600px"><p>x</p><img src="wide.png" style="max-width:100%">'
                         '<table><tbody><tr><td>1</td></tr></tbody></table></article>',
}
# A 1x1 PNG.
DOT_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                        "0000000d4944415478da63f8cfc0f01f0005000201a0b4a0d40000000049454e44ae426082")


@pytest.mark.browser
def test_the_probe_catches_broken_pages(browser, tmp_path):
    for name, body in BROKEN_SITE.items():
        (tmp_path / name).write_text(f"<!doctype html><html><body>{body}</body></html>", encoding="utf-8")
    (tmp_path / "dot.png").write_bytes(DOT_PNG)
    from PIL import Image

    Image.new("RGB", (1600, 200), "white").save(tmp_path / "wide.png")  # a figure shown at 600 of 1600 px
    declared = {"tables": 1, "figures": 1}
    with serve(tmp_path) as url:
        found = {name: problems(open_and_probe(browser, url + name, None), declared) for name in BROKEN_SITE}
    assert found["good.html"] == []
    assert any("did not render" in f for f in found["broken_image.html"])
    assert any("404" in f for f in found["broken_image.html"])
    assert any("error output" in f for f in found["error_output.html"])
    assert any("stderr" in f for f in found["stderr_traceback.html"])
    assert any("table" in f for f in found["no_table.html"]) and any("figure" in f for f in found["no_table.html"])
    assert any("JavaScript" in f for f in found["script_error.html"])
    assert found["scrolled_wide_table.html"] == [] and found["folded.html"] == []
    assert any("wider than the content column" in f for f in found["wide_table.html"])
    assert any("3 log or repr output(s)" in f for f in found["repr_output.html"])
    assert any("2 of 5 code cells unfolded" in f for f in found["unfolded.html"])
    assert any("shrunk below half" in f and "600 of 1600" in f for f in found["shrunk_image.html"])
