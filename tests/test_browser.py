"""Load every page of the (quick) built book in headless Chromium, as a reader would.

Asserts, per page: every math element was typeset by MathJax and no raw TeX
delimiters are left in the prose; every image loaded; no console errors; no
request left the machine. A screenshot of each page is saved under the build
folder (``_build/screenshots``).

Needs Debian's Chromium (``apt-get install -y chromium``; ``.ci/run``
installs it) and the ``playwright`` package (in requirements.txt). Without
Chromium the test is skipped locally, but fails when
``SADDLEBOOK_REQUIRE_BROWSER=1`` (set by CI).
"""
import functools
import http.server
import threading

import pytest
import yaml

from conftest import CHROMIUM, needs_chromium

pytestmark = needs_chromium("the browser test")


def _pages(root):
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [c["file"] for c in part.get("chapters", [])]
    return pages


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(quick_book):
    html = quick_book["root"] / "_build" / "html"
    handler = functools.partial(_Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


def _visit_all(paths, visit, workers=3):
    """``visit(browser, path)`` for every path, ``workers`` browsers at once; the results in path order.

    Loading a page mostly waits (MathJax, images, the screenshot), so a few browsers side by side finish
    sooner even on two cores. Playwright's sync API is bound to its thread: each thread starts its own.
    """
    assert CHROMIUM, "SADDLEBOOK_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install -y chromium)"
    from concurrent.futures import ThreadPoolExecutor

    from playwright.sync_api import sync_playwright

    def share(k):
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
            try:
                return {path: visit(b, path) for path in paths[k::workers]}
            finally:
                b.close()

    with ThreadPoolExecutor(workers) as pool:
        done = {}
        for part in pool.map(share, range(min(workers, len(paths)))):
            done.update(part)
    return [done[path] for path in paths]


_INSPECT = """
() => {
  const maths = [...document.querySelectorAll('.math')];
  const untypeset = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60));
  const article = document.querySelector('article') || document.body;
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, .math, mjx-container, script, .cell_input').forEach(e => e.remove());
  const text = clone.textContent;
  const raw = ['$$', '\\\\(', '\\\\[', '\\\\begin{'].filter(d => text.includes(d));
  const images = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
  return {maths: maths.length, untypeset, raw, images, nimages: document.images.length};
}
"""


def test_every_page_renders_offline(quick_book, served):
    root = quick_book["root"]
    shots = root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    def visit(browser, page_path):
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors, outside = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith((served, "data:", "blob:")) else outside.append(r.url))
        page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
        page.goto(f"{served}/{page_path}.html", wait_until="load")
        if page.evaluate("() => !!(window.MathJax && MathJax.startup)"):
            page.evaluate("() => MathJax.startup.promise")
        page.wait_for_load_state("networkidle")
        found = page.evaluate(_INSPECT)
        # JPEG: a long page's full-page PNG takes seconds to encode
        page.screenshot(path=str(shots / (page_path.replace("/", "_") + ".jpg")), full_page=True, type="jpeg",
                        quality=80)
        page.close()
        return found, errors, outside

    problems, maths, images = [], 0, 0
    for page_path, (found, errors, outside) in zip(_pages(root), _visit_all(_pages(root), visit)):
        maths, images = maths + found["maths"], images + found["nimages"]
        for what, bad in (("math not typeset", found["untypeset"]), ("raw TeX", found["raw"]),
                          ("image not loaded", found["images"]), ("console error", errors),
                          ("request off the machine", outside)):
            if bad:
                problems.append(f"{page_path}: {what}: {bad[:3]}")
    assert not problems, "\n".join(problems)
    assert maths > 0 and images > 0, "the check is vacuous: no math or no images found"
    assert len(list(shots.glob("*.jpg"))) == len(_pages(root))


_NUMBERING = """
() => {
  const text = e => (e ? e.textContent.trim() : '');
  const figures = [...document.querySelectorAll('article figure')].map(f => {
    const link = f.querySelector('figcaption a.figure-code-link');
    const target = link ? document.getElementById(link.getAttribute('href').slice(1)) : null;
    const img = f.querySelector('img');
    let alpha = null;
    if (img && img.complete && img.naturalWidth > 0) {
      const c = document.createElement('canvas');
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const w = c.width - 1, h = c.height - 1;
      alpha = Math.min(...[[0, 0], [w, 0], [0, h], [w, h], [w >> 1, h >> 1]].map(
        ([x, y]) => g.getImageData(x, y, 1, 1).data[3]));
    }
    return {number: text(f.querySelector('.caption-number')), link: !!link,
            target: !!(target && target.classList.contains('cell')), alpha};
  });
  const exercises = [...document.querySelectorAll('article div.exercise > p.admonition-title')]
    .map(t => t.textContent.trim());
  const equations = [...document.querySelectorAll('article span.eqno')].map(e => e.textContent.trim());
  const tables = [...document.querySelectorAll('article table > caption .caption-number')]
    .map(e => e.textContent.trim());
  return {figures, exercises, equations, tables, theme: document.documentElement.dataset.theme};
}
"""


def test_chapter_numbering_code_links_and_dark_figures(quick_book, served):
    """Chapter N's figures, tables, exercises and equations are numbered N.k; every figure's
    caption links to the code cell that drew it; figures are opaque, so readable
    in the dark theme (a dark-mode screenshot of each chapter is saved)."""
    root = quick_book["root"]
    shots = root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    chapters = [p for p in _pages(root) if p.startswith("book/executed/") and p[14:16].isdigit()
                and int(p[14:16]) > 0]
    problems, counted = [], {"figures": 0, "exercises": 0, "tables": 0}

    def visit(browser, page_path):
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        # The theme reads the colour mode from localStorage before it paints.
        page.add_init_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
        page.goto(f"{served}/{page_path}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        found = page.evaluate(_NUMBERING)
        shot = shots / ("dark_" + page_path.replace("/", "_") + ".png")
        first = page.locator("article figure").first
        (first if found["figures"] else page).screenshot(path=str(shot))
        page.close()
        return found

    for page_path, found in zip(chapters, _visit_all(chapters, visit)):
        n = int(page_path[14:16])
        if found["theme"] != "dark":
            problems.append(f"{page_path}: dark mode not applied (data-theme={found['theme']!r})")
        for i, f in enumerate(found["figures"], 1):
            counted["figures"] += 1
            if f["number"].rstrip(".:") != f"Fig. {n}.{i}":
                problems.append(f"{page_path}: figure {i} is numbered {f['number']!r}, not 'Fig. {n}.{i}'")
            if not (f["link"] and f["target"]):
                problems.append(f"{page_path}: figure {f['number']} has no link to the code cell that drew it")
            if f["alpha"] != 255:
                problems.append(f"{page_path}: figure {f['number']} is transparent (alpha {f['alpha']}): "
                                "unreadable in the dark theme")
        for i, title in enumerate(found["exercises"], 1):
            counted["exercises"] += 1
            if not title.startswith(f"Exercise {n}.{i} "):
                problems.append(f"{page_path}: exercise {i} is titled {title[:30]!r}, not 'Exercise {n}.{i} ...'")
        for i, number in enumerate(found["tables"], 1):
            counted["tables"] += 1
            if number.rstrip(".: ") != f"Table {n}.{i}":
                problems.append(f"{page_path}: table {i} is numbered {number!r}, not 'Table {n}.{i}'")
        for eq in found["equations"]:
            if not eq.replace("#", "").strip().strip("()").startswith(f"{n}."):
                problems.append(f"{page_path}: equation number {eq!r} is not of chapter {n}")
    assert not problems, "\n".join(problems)
    assert min(counted.values()) >= len(chapters), counted
