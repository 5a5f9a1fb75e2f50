"""The PDF edition: the whole book and one PDF per chapter, printed by headless Chromium.

The whole book is the ``singlehtml`` edition (one page: table of contents,
every chapter, typeset math, embedded figures) printed to
``_build/pdf/saddlebook.pdf``; each chapter is its page of the HTML build
(the theme has print styles) printed to ``_build/pdf/<stem>.pdf``. The PDFs
are then copied into the HTML output under ``_static/pdf/``, where the
download menu of every chapter page (and, for the whole book, of the front
page) links to them (book/_ext/chapter_sources.py). So the HTML must be built
first (``python -m saddlebook build``).

Chromium reads the pages from ``file://`` with every host name unresolvable,
so nothing is fetched from outside the machine (MathJax is served from the
built site, book/_ext/offline.py). Each PDF is printed to a temporary file and
moved into place, so a failed or interrupted run leaves no half-written PDF.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from .build import BuildFailed, jupyter_book
from .chapters import chapters as list_chapters

BOOK_PDF = "saddlebook.pdf"
HTML_PDF_DIR = Path("_static") / "pdf"  # inside _build/html; book/_ext/chapter_sources.py links here
INSTALL = "apt-get install -y chromium"
PRINT_TIMEOUT = 300  # seconds per PDF, real time

_CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no request can leave the machine
    "--virtual-time-budget=60000",  # let MathJax typeset and images load before printing
    "--run-all-compositor-stages-before-draw",
    "--no-pdf-header-footer",
)


class PdfFailed(RuntimeError):
    """Chromium is missing, or it did not print a PDF."""


def find_chromium() -> str:
    """The Chromium executable on PATH; a clear error naming the install command if none."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise PdfFailed(f"headless Chromium not found on PATH; install it with `{INSTALL}` (Debian)")


def _replace(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary file in ``dest``'s folder (no half-written file)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the copies in the HTML output are served
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_pdf(page: Path, out: Path, *, chromium: str | None = None, timeout: float = PRINT_TIMEOUT) -> Path:
    """Print the HTML file ``page`` to ``out`` with headless Chromium."""
    chromium = chromium or find_chromium()
    if not page.is_file():
        raise PdfFailed(f"{page} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="saddlebook-chromium-") as profile:
        tmp = Path(profile) / "print.pdf"
        cmd = [chromium, *_CHROMIUM_ARGS, f"--user-data-dir={profile}/profile",
               f"--print-to-pdf={tmp}", page.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PdfFailed(f"Chromium did not print {page.name} within {timeout:.0f} s") from None
        ok = tmp.is_file() and tmp.stat().st_size > 0 and tmp.read_bytes()[:5] == b"%PDF-"
        if proc.returncode != 0 or not ok:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise PdfFailed(f"Chromium failed to print {page} (exit {proc.returncode}):\n{tail}")
        _replace(tmp, out)
    return out


def build_singlehtml(root: Path, *, log=print) -> Path:
    """Build the one-page edition into ``_build/singlehtml``, warnings as errors; return its page."""
    seconds = jupyter_book(root, "singlehtml")
    # _build/singlehtml/index.html only redirects; the book is on the root document's page,
    # written at book/executed/00-preface.html but with every link relative to the output
    # folder (_static/..., _images/...): a copy at the top level is the page that works.
    out = root / "_build" / "singlehtml"
    toc_root = yaml.safe_load((root / "_toc.yml").read_text())["root"]
    written = out / f"{Path(toc_root).with_suffix('').as_posix()}.html"
    if not written.is_file():
        raise BuildFailed(f"the singlehtml build wrote no {written}")
    page = out / f"{Path(BOOK_PDF).stem}.html"
    _replace(written, page)
    log(f"single-page HTML built in {seconds:.1f} s: {page}")
    return page


def chapter_pages(root: Path) -> dict[str, Path]:
    """Each chapter's page of the HTML build, by stem, in reading order."""
    html = root / "_build" / "html"
    return {c.stem: html / "book" / "executed" / f"{c.stem}.html" for c in list_chapters(root)}


def make_pdf(root: Path, *, jobs: int | None = None, log=print) -> dict:
    """Print the whole book and every chapter to ``_build/pdf``; copy them into the HTML output.

    Returns ``{"book": Path, "chapters": {stem: Path}, "html": Path}`` (the last
    is the folder in the HTML output that holds the copies).
    """
    chromium = find_chromium()  # before the build: a missing browser fails in a second, not a minute
    pages = chapter_pages(root)
    missing = [p for p in pages.values() if not p.is_file()]
    if missing:
        raise PdfFailed(f"{missing[0]} does not exist: build the HTML first (python -m saddlebook build)")
    single = build_singlehtml(root, log=log)
    out = root / "_build" / "pdf"
    # Printing mostly waits on Chromium's virtual clock: two at a time is 1.6x faster even on 2 cores.
    jobs = max(1, jobs or min(len(pages) + 1, max(2, (os.cpu_count() or 2) // 2)))
    start = time.perf_counter()
    seconds = {}

    def one(name: str, page: Path) -> Path:
        t = time.perf_counter()
        path = print_pdf(page, out / f"{name}.pdf", chromium=chromium)
        seconds[name] = time.perf_counter() - t
        return path

    todo = [(Path(BOOK_PDF).stem, single)] + list(pages.items())
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {name: pool.submit(one, name, page) for name, page in todo}
        printed = {name: fut.result() for name, fut in futures.items()}
    book = printed.pop(Path(BOOK_PDF).stem)
    log(f"printed {len(todo)} PDF(s) with {jobs} Chromium process(es) in {time.perf_counter() - start:.1f} s "
        f"(whole book {seconds[book.stem]:.1f} s, {book.stat().st_size / 1e6:.1f} MB)")
    html_dir = root / "_build" / "html" / HTML_PDF_DIR
    for path in [book, *printed.values()]:
        _replace(path, html_dir / path.name)
    return {"book": book, "chapters": printed, "html": html_dir}
